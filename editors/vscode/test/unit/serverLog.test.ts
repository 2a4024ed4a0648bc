import assert from "node:assert/strict";
import { test } from "node:test";
import { serverLineLevels } from "../../src/serverLog";

test("server log lines keep their level; a traceback keeps the level of its first line", () => {
  const levelOf = serverLineLevels();
  assert.equal(levelOf("2026-11-23 12:02:07,828 DEBUG pygls.server: Content length: 386"), "info");
  assert.equal(levelOf("2026-11-23 12:02:07,828 WARNING dglsp.server: slow"), "warn");
  assert.equal(levelOf("2026-11-23 12:02:07,828 ERROR dglsp.server: failed"), "error");
  assert.equal(levelOf("Traceback (most recent call last):"), "error");
  assert.equal(levelOf("2026-11-23 12:02:08,001 INFO dglsp.engine: ready"), "info");
  assert.equal(serverLineLevels()("no level at all"), "info");
});
