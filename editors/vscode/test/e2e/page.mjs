// Functions that run inside the VS Code page (passed to page.evaluate).

// VS Code gives a status bar item the id `<publisher>.<extension name>.<item id>`.
export const STATUS_ITEM = '.part.statusbar [id="dglsp.dglsp.status"]';

/** The dglsp status bar item's accessible label (its state in words), or "". */
export async function statusLabel(page) {
  const item = page.locator(STATUS_ITEM);
  return (await item.count()) ? ((await item.getAttribute("aria-label")) ?? "") : "";
}

/**
 * Starts recording every draft the extension draws: elements whose `::after` carries the
 * `--dglsp-draft` marker (src/drafts.ts). Each distinct text is kept in
 * `window.__dglspDrafts` with whether VS Code's ghost text was already on screen.
 */
export function draftRecorder() {
  // The draft drawn now, or "".
  const current = () => {
    for (const el of document.querySelectorAll(".monaco-editor .view-lines span")) {
      const after = getComputedStyle(el, "::after");
      if (after.getPropertyValue("--dglsp-draft").trim() !== "1") continue;
      const raw = after.content;
      return raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
    }
    return "";
  };
  const ghostShown = () => !!document.querySelector(".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text");
  window.__dglspDraftOnScreen = current;
  window.__dglspDrafts = [];
  let last = "";
  const scan = () => {
    const text = current();
    if (text && text !== last) window.__dglspDrafts.push({ text, at: performance.now(), beforeGhost: !ghostShown() });
    last = text;
  };
  new MutationObserver(scan).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  const frame = () => {
    scan();
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

/** The draft drawn now, or "" (after draftRecorder ran). */
export function draftOnScreen() {
  return window.__dglspDraftOnScreen();
}

/**
 * The ghost text on screen: its part on the cursor's line (`.ghost-text-decoration`), then
 * the lines below it (`.ghost-text` spans in a view zone, one parent per line; a line has
 * several spans when it is syntax highlighted). Spaces are drawn as no-break spaces.
 */
export function ghostText() {
  const editor = document.querySelector(".editor-instance .monaco-editor");
  const inline = [...editor.querySelectorAll(".ghost-text-decoration")].map((el) => el.textContent).join("");
  const lines = new Map();
  for (const span of editor.querySelectorAll(".ghost-text")) {
    lines.set(span.parentElement, (lines.get(span.parentElement) ?? "") + span.textContent);
  }
  return [inline, ...lines.values()].join("\n").replace(/\u00a0/g, " ");
}
