// Which `dglsp/draft` notifications to show (docs/protocol.md, "What clients do").
// No `vscode` import: the unit tests drive it with plain objects.

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

/** The params of `dglsp/draft`. */
export interface DraftParams {
  textDocument: { uri: string; version: number };
  position: LspPosition;
  range: LspRange;
  step: number;
  totalSteps: number;
  text: string;
  final: boolean;
  requestId?: number | string;
}

/** An inline completion request the client is waiting for. */
interface Pending {
  uri: string;
  version: number;
  position: LspPosition;
  /** The JSON-RPC id its drafts carry, learnt from the first matching draft. */
  requestId?: number | string;
  done: boolean;
}

export type DraftDecision =
  | { action: "show"; draft: DraftParams }
  | { action: "clear"; uri: string }
  | { action: "drop"; reason: string };

/** A handle returned by `begin`, passed back to `end` when the request's answer arrives. */
export interface RequestHandle {
  readonly uri: string;
}

/**
 * Tracks the inline completion request in flight per document and decides for each draft
 * whether it belongs to it. The client's middleware does not see JSON-RPC ids, so a request
 * is matched by document, version and position, and the first matching draft's `requestId`
 * pins it: a draft with a smaller id comes from an older request at the same place (it was
 * superseded), one with a larger id from a newer request that replaced it.
 */
export class DraftFilter {
  private readonly pending = new Map<string, Pending>();

  /** A request for `uri` at `version` and `position` was sent; it replaces any older one. */
  begin(uri: string, version: number, position: LspPosition): RequestHandle {
    const entry: Pending = { uri, version, position, done: false };
    this.pending.set(uri, entry);
    return entry;
  }

  /** The request's answer arrived (or it failed): its drafts are over. True if it was current. */
  end(handle: RequestHandle): boolean {
    if (this.pending.get(handle.uri) !== handle) return false;
    this.pending.delete(handle.uri);
    return true;
  }

  /** The document changed or closed, or the cursor left: nothing in flight is current. */
  forget(uri: string): void {
    this.pending.delete(uri);
  }

  /** The position of the request in flight for `uri`, if any. */
  pendingPosition(uri: string): LspPosition | undefined {
    return this.pending.get(uri)?.position;
  }

  /**
   * What to do with a draft, given the document's current version in the editor
   * (undefined when the document is not open).
   */
  accept(draft: DraftParams, currentVersion: number | undefined): DraftDecision {
    const uri = draft.textDocument.uri;
    const entry = this.pending.get(uri);
    if (!entry) return { action: "drop", reason: "no request in flight for this document" };
    if (entry.done) return { action: "drop", reason: "the request already had its final draft" };
    if (currentVersion === undefined) return { action: "drop", reason: "the document is not open" };
    if (draft.textDocument.version !== currentVersion) {
      return { action: "drop", reason: `draft for version ${draft.textDocument.version}, document is at ${currentVersion}` };
    }
    if (draft.textDocument.version !== entry.version) {
      return { action: "drop", reason: `draft for version ${draft.textDocument.version}, request for ${entry.version}` };
    }
    if (!samePosition(draft.position, entry.position)) {
      return { action: "drop", reason: "draft for another position" };
    }
    if (draft.requestId !== undefined) {
      if (entry.requestId !== undefined && compareIds(draft.requestId, entry.requestId) < 0) {
        return { action: "drop", reason: `draft of an older request (${draft.requestId} < ${entry.requestId})` };
      }
      entry.requestId = draft.requestId;
    }
    if (draft.final) {
      // The final draft carries the answer's text: VS Code's own ghost text shows it next.
      entry.done = true;
      return { action: "clear", uri };
    }
    return { action: "show", draft };
  }
}

function samePosition(a: LspPosition, b: LspPosition): boolean {
  return a.line === b.line && a.character === b.character;
}

// vscode-jsonrpc numbers its requests 0, 1, 2, ...; other ids only need to be told apart.
function compareIds(a: number | string, b: number | string): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return a === b ? 0 : 1;
}

/**
 * The text to draw after the cursor for a draft. The draft replaces `range`, which may start
 * before the cursor (a partly typed word): that part is already on screen, so it is cut off.
 * VS Code draws decoration text on one line, so line breaks become ` ⏎ ` and the indentation
 * of later lines is dropped; past `maxLength` characters the text ends with `…`.
 */
export function draftDisplayText(draft: DraftParams, lineText: string, maxLength = 120): string {
  let text = draft.text;
  const { start } = draft.range;
  if (start.line === draft.position.line && start.character < draft.position.character) {
    const typed = lineText.slice(start.character, draft.position.character);
    if (text.startsWith(typed)) text = text.slice(typed.length);
  }
  const lines = text.split(/\r\n|\r|\n/);
  const shown = [lines[0], ...lines.slice(1).map((line) => line.trim())].join(" ⏎ ").replace(/\s+$/, "");
  if (shown.length <= maxLength) return shown;
  return shown.slice(0, maxLength - 1) + "…";
}
