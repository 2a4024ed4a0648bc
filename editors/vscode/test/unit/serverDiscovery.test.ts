import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Candidate,
  describeFailure,
  discoverServer,
  DiscoveryInput,
  findOnPath,
  parseVersion,
  ProbeResult,
  serverCandidates,
} from "../../src/serverDiscovery";

function input(overrides: Partial<DiscoveryInput> & { files?: string[] }): DiscoveryInput {
  const files = new Set(overrides.files ?? []);
  return {
    serverPath: "",
    pathEnv: "/usr/local/bin:/usr/bin",
    platform: "linux",
    homeDir: "/home/me",
    pythonCommand: undefined,
    isExecutableFile: (file) => files.has(file),
    ...overrides,
  };
}

test("the serverPath setting is the only candidate, with ~ expanded", () => {
  const found = serverCandidates(input({ serverPath: "~/venv/bin/dglsp", files: ["/usr/bin/dglsp"] }));
  assert.deepEqual(
    found.map((c) => [c.source, c.command, c.args]),
    [["setting", "/home/me/venv/bin/dglsp", []]],
  );
});

test("without the setting: dglsp on PATH first, then python3 -m dglsp", () => {
  const found = serverCandidates(input({ files: ["/usr/bin/dglsp"] }));
  assert.deepEqual(
    found.map((c) => [c.source, c.command, c.args]),
    [
      ["path", "/usr/bin/dglsp", []],
      ["python", "python3", ["-m", "dglsp"]],
    ],
  );
});

test("the first PATH directory holding dglsp wins", () => {
  const files = ["/usr/bin/dglsp", "/usr/local/bin/dglsp"];
  assert.equal(findOnPath("dglsp", "/nope:/usr/local/bin:/usr/bin", "linux", (f) => files.includes(f)), "/usr/local/bin/dglsp");
  assert.equal(findOnPath("dglsp", "", "linux", () => true), undefined);
});

test("the Python extension's interpreter replaces python3, its extra arguments kept", () => {
  const found = serverCandidates(input({ pythonCommand: ["/opt/conda/bin/conda", "run", "-n", "x", "python"] }));
  const python = found.find((c) => c.source === "python");
  assert.deepEqual([python?.command, python?.args], ["/opt/conda/bin/conda", ["run", "-n", "x", "python", "-m", "dglsp"]]);
  const missing = found.find((c) => c.source === "path");
  assert.equal(missing?.missing, "not found");
});

test("discovery probes in order, skips what is missing and stops at the first dglsp", async () => {
  const probed: string[] = [];
  const answers: Record<string, ProbeResult> = {
    "/usr/bin/dglsp": { ok: false, error: "exit 1" },
    python3: { ok: true, version: "dglsp 0.1.0" },
  };
  const candidates: Candidate[] = [
    { source: "path", command: "/usr/bin/dglsp", args: [], label: "PATH" },
    { source: "python", command: "python3", args: ["-m", "dglsp"], label: "python3" },
    { source: "python", command: "never", args: [], label: "never" },
  ];
  const found = await discoverServer(candidates, async (c) => {
    probed.push(c.command);
    return answers[c.command];
  });
  assert.deepEqual(probed, ["/usr/bin/dglsp", "python3"]);
  assert.equal(found.server?.command, "python3");
  assert.equal(found.server?.version, "dglsp 0.1.0");
});

test("when nothing works, the message names every attempt and what to do", async () => {
  const found = await discoverServer(serverCandidates(input({})), async () => ({
    ok: false,
    error: "No module named dglsp",
  }));
  assert.equal(found.server, undefined);
  const message = describeFailure(found);
  assert.match(message, /dglsp on PATH: not found/);
  assert.match(message, /python3 -m dglsp\): No module named dglsp/);
  assert.match(message, /Install dglsp/);
  const withSetting = describeFailure(
    await discoverServer(serverCandidates(input({ serverPath: "/x/dglsp" })), async () => ({ ok: false, error: "ENOENT" })),
  );
  assert.match(withSetting, /dglsp\.serverPath \(\/x\/dglsp\): ENOENT/);
  assert.match(withSetting, /Fix the dglsp\.serverPath setting/);
});

test("only dglsp's own --version answer counts", () => {
  assert.equal(parseVersion("dglsp 0.1.0\n"), "dglsp 0.1.0");
  assert.equal(parseVersion("Python 3.11.7"), undefined);
  assert.equal(parseVersion(""), undefined);
});
