import assert from "node:assert/strict";
import { test } from "node:test";
import { DraftFilter, DraftParams, draftDisplayText } from "../../src/draftFilter";

const URI = "file:///w/add.py";

function draft(overrides: Partial<DraftParams> & { version?: number } = {}): DraftParams {
  const { version = 7, ...rest } = overrides;
  return {
    textDocument: { uri: URI, version },
    position: { line: 1, character: 11 },
    range: { start: { line: 1, character: 11 }, end: { line: 1, character: 11 } },
    step: 1,
    totalSteps: 8,
    text: "a + b",
    final: false,
    requestId: 12,
    ...rest,
  };
}

test("a draft for the request in flight is shown", () => {
  const filter = new DraftFilter();
  filter.begin(URI, 7, { line: 1, character: 11 });
  const decision = filter.accept(draft(), 7);
  assert.equal(decision.action, "show");
});

test("no request in flight, or the document is not open: dropped", () => {
  const filter = new DraftFilter();
  assert.equal(filter.accept(draft(), 7).action, "drop");
  filter.begin(URI, 7, { line: 1, character: 11 });
  assert.equal(filter.accept(draft(), undefined).action, "drop");
});

test("a draft for an older document version is dropped", () => {
  const filter = new DraftFilter();
  filter.begin(URI, 7, { line: 1, character: 11 });
  // The document moved on to version 8 while the draft for 7 was on the wire.
  const stale = filter.accept(draft({ version: 7 }), 8);
  assert.equal(stale.action, "drop");
  assert.match((stale as { reason: string }).reason, /version 7, document is at 8/);
  // A draft claiming the current version but for a request made at another version.
  const other = new DraftFilter();
  other.begin(URI, 6, { line: 1, character: 11 });
  assert.equal(other.accept(draft({ version: 7 }), 7).action, "drop");
});

test("a draft for another position is dropped", () => {
  const filter = new DraftFilter();
  filter.begin(URI, 7, { line: 1, character: 12 });
  assert.equal(filter.accept(draft({ position: { line: 1, character: 11 } }), 7).action, "drop");
  assert.equal(filter.accept(draft({ position: { line: 2, character: 12 } }), 7).action, "drop");
  assert.equal(filter.accept(draft({ position: { line: 1, character: 12 } }), 7).action, "show");
});

test("once a request id is seen, drafts of older requests at the same place are dropped", () => {
  const filter = new DraftFilter();
  filter.begin(URI, 7, { line: 1, character: 11 });
  assert.equal(filter.accept(draft({ requestId: 12 }), 7).action, "show");
  assert.equal(filter.accept(draft({ requestId: 11 }), 7).action, "drop");
  // A newer request (VS Code asked again at the same place) takes over.
  assert.equal(filter.accept(draft({ requestId: 13 }), 7).action, "show");
  assert.equal(filter.accept(draft({ requestId: 12 }), 7).action, "drop");
});

test("the final draft clears the preview and ends the drafts of that request", () => {
  const filter = new DraftFilter();
  filter.begin(URI, 7, { line: 1, character: 11 });
  assert.deepEqual(filter.accept(draft({ final: true }), 7), { action: "clear", uri: URI });
  assert.equal(filter.accept(draft({ step: 9 }), 7).action, "drop");
});

test("the answer, an edit or a newer request end the old one", () => {
  const filter = new DraftFilter();
  const first = filter.begin(URI, 7, { line: 1, character: 11 });
  const second = filter.begin(URI, 7, { line: 1, character: 11 });
  assert.equal(filter.end(first), false, "a superseded request's answer ends nothing");
  assert.equal(filter.accept(draft(), 7).action, "show");
  assert.equal(filter.end(second), true);
  assert.equal(filter.accept(draft(), 7).action, "drop");
  filter.begin(URI, 7, { line: 1, character: 11 });
  filter.forget(URI);
  assert.equal(filter.accept(draft(), 7).action, "drop");
  assert.equal(filter.pendingPosition(URI), undefined);
});

test("requests in two documents are tracked apart", () => {
  const filter = new DraftFilter();
  filter.begin(URI, 7, { line: 1, character: 11 });
  filter.begin("file:///w/other.py", 3, { line: 0, character: 0 });
  assert.equal(filter.accept(draft(), 7).action, "show");
  assert.deepEqual(filter.pendingPosition("file:///w/other.py"), { line: 0, character: 0 });
});

test("display text: the typed word is cut, lines are joined, long text ends with …", () => {
  const typed = draft({
    position: { line: 1, character: 14 },
    range: { start: { line: 1, character: 11 }, end: { line: 1, character: 14 } },
    text: "retval = 1",
  });
  assert.equal(draftDisplayText(typed, "    return ret"), "val = 1");
  assert.equal(draftDisplayText(draft({ text: "\n    x = 1\n    return x\n" }), ""), " ⏎ x = 1 ⏎ return x ⏎");
  assert.equal(draftDisplayText(draft({ text: "x".repeat(200) }), "", 20), "x".repeat(19) + "…");
  assert.equal(draftDisplayText(draft({ text: "" }), ""), "");
});
