import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientState, formatLatency, formatStatus, isStatusParams, StatusParams } from "../../src/statusText";

const running: ClientState = { client: "running", enabled: true };

function status(overrides: Partial<StatusParams>): StatusParams {
  return {
    state: "ready",
    model: "dglsp-tiny",
    modelPath: "/tmp/dglsp-tiny",
    engine: "inprocess",
    device: "cpu",
    message: "",
    percentage: null,
    lastLatencyMs: null,
    ...overrides,
  };
}

test("each engine state has its own text", () => {
  assert.equal(formatStatus(status({ state: "starting" }), running).text, "$(loading~spin) dglsp");
  assert.equal(formatStatus(status({ state: "loading", percentage: 42 }), running).text, "$(loading~spin) dglsp: loading 42%");
  assert.equal(formatStatus(status({ state: "loading" }), running).text, "$(loading~spin) dglsp: loading");
  assert.equal(formatStatus(status({ state: "ready" }), running).text, "$(check) dglsp: dglsp-tiny");
  assert.equal(formatStatus(status({ state: "generating" }), running).text, "$(sync~spin) dglsp: dglsp-tiny");
  const error = formatStatus(status({ state: "error", message: "Model directory /x does not exist" }), running);
  assert.equal(error.text, "$(error) dglsp: error");
  assert.equal(error.kind, "error");
  assert.match(error.tooltip, /Model directory \/x does not exist/);
});

test("ready shows the last latency; the label says the state in words", () => {
  const view = formatStatus(status({ lastLatencyMs: 321.4 }), running);
  assert.equal(view.text, "$(check) dglsp: dglsp-tiny · 321 ms");
  assert.equal(view.label, "dglsp ready, dglsp-tiny, last completion 321 ms");
  assert.match(view.tooltip, /engine: inprocess, device: cpu/);
});

test("the client's own state comes first: not running, off, starting", () => {
  const stopped = formatStatus(status({}), { client: "stopped", enabled: true, problem: "dglsp was not found" });
  assert.equal(stopped.kind, "error");
  assert.match(stopped.tooltip, /dglsp was not found/);
  assert.match(stopped.label, /error/);
  const off = formatStatus(status({}), { client: "running", enabled: false });
  assert.equal(off.text, "$(circle-slash) dglsp");
  assert.match(off.label, /^dglsp off, engine ready/);
  assert.equal(formatStatus(undefined, running).label, "dglsp starting");
});

test("latency formatting", () => {
  assert.equal(formatLatency(null), "");
  assert.equal(formatLatency(12.6), "13 ms");
  assert.equal(formatLatency(1830), "1.8 s");
  assert.equal(formatLatency(12_345), "12 s");
});

test("status params are recognised by their shape", () => {
  assert.ok(isStatusParams(status({})));
  assert.ok(!isStatusParams(null));
  assert.ok(!isStatusParams({ state: 3 }));
});
