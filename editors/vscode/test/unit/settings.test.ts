import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import {
  DEFAULTS,
  ExtensionSettings,
  languageEnabled,
  needsRestart,
  readSettings,
  serverLanguages,
  SUPPORTED_LANGUAGE_IDS,
  toServerSettings,
} from "../../src/settings";

// Compiled to out/test/unit: the extension's folder is three levels up.
const root = path.resolve(__dirname, "../../..");
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const properties: Record<string, { default: unknown }> = manifest.contributes.configuration.properties;

function settings(overrides: Partial<ExtensionSettings> = {}): ExtensionSettings {
  return { ...DEFAULTS, languages: [...DEFAULTS.languages], ...overrides };
}

test("every setting is contributed in package.json with the same default", () => {
  for (const [key, value] of Object.entries(DEFAULTS)) {
    assert.ok(properties[`dglsp.${key}`], `dglsp.${key} is not contributed`);
    assert.deepEqual(properties[`dglsp.${key}`].default, value, `dglsp.${key} default`);
  }
});

test("the server gets camelCase keys, drafts and status on, empty strings left out", () => {
  const out = toServerSettings(settings({ steps: 8, debounceMs: 0, entropyBound: 0.3, canvasPolicy: "fixed" }));
  assert.deepEqual(out, {
    steps: 8,
    canvasPolicy: "fixed",
    canvasLength: 0,
    strategy: "prompt",
    experts: "auto",
    dtype: "auto",
    entropyBound: 0.3,
    drafts: true,
    debounceMs: 0,
    contextBudget: 2048,
    languages: ["python", "javascript", "typescript", "tsx", "rust", "go", "c", "cpp", "java"],
    status: true,
  });
  const chosen = toServerSettings(settings({ model: " /m/tiny ", engine: "inprocess", device: "cpu", drafts: false }));
  assert.equal(chosen.model, "/m/tiny");
  assert.equal(chosen.engine, "inprocess");
  assert.equal(chosen.device, "cpu");
  assert.equal(chosen.drafts, false);
  assert.equal(toServerSettings(settings({ dtype: "fp8" })).dtype, "fp8");
  for (const clientOnly of ["enable", "serverPath", "logLevel"]) assert.ok(!(clientOnly in chosen), clientOnly);
});

test("languages map to the server's names; * stays *", () => {
  assert.deepEqual(serverLanguages(["javascriptreact", "javascript", "ruby"]), ["javascript", "ruby"]);
  assert.deepEqual(serverLanguages(["typescriptreact"]), ["tsx"]);
  assert.deepEqual(serverLanguages(["python", "*"]), ["*"]);
  assert.ok(languageEnabled(settings(), "python"));
  assert.ok(!languageEnabled(settings(), "markdown"));
  assert.ok(!languageEnabled(settings({ languages: ["go"] }), "python"));
  assert.ok(languageEnabled(settings({ languages: ["*"] }), "markdown"));
});

test("values of the wrong type fall back to the defaults", () => {
  const raw: Record<string, unknown> = {
    steps: "eight",
    drafts: 1,
    languages: ["go", 3, ""],
    canvasPolicy: "big",
    strategy: "sideways",
    experts: "fastest",
    dtype: "fp16",
    model: "/m",
  };
  const read = readSettings((key) => raw[key]);
  assert.equal(read.steps, 48);
  assert.equal(read.drafts, true);
  assert.deepEqual(read.languages, ["go"]);
  assert.equal(read.canvasPolicy, "auto");
  assert.equal(read.strategy, "prompt");
  assert.equal(read.experts, "auto");
  assert.equal(read.dtype, "auto");
  assert.equal(read.model, "/m");
});

test("a new command line or a cleared model restarts the server; other changes do not", () => {
  assert.ok(needsRestart(settings(), settings({ serverPath: "/x" })));
  assert.ok(needsRestart(settings(), settings({ logLevel: "debug" })));
  assert.ok(needsRestart(settings({ model: "/m" }), settings()));
  assert.ok(!needsRestart(settings(), settings({ model: "/m" })));
  assert.ok(!needsRestart(settings(), settings({ steps: 4, drafts: false, enable: false })));
});

test("the supported languages match dglsp/languages.py and the activation events", () => {
  const table = fs.readFileSync(path.join(root, "../../dglsp/languages.py"), "utf8");
  // The last tuple of each LanguageInfo(...) call holds its LSP ids.
  const ids = new Set<string>();
  for (const call of calls(table, "LanguageInfo(")) {
    const tuples = [...call.matchAll(/\(([^()]*)\)/g)];
    for (const id of tuples.at(-1)![1].matchAll(/"([^"]+)"/g)) ids.add(id[1]);
  }
  assert.ok(ids.size >= 10, `parsed ${[...ids]}`);
  // "tsx" and "c++" are alternative ids VS Code does not use.
  const vscodeIds = [...ids].filter((id) => id !== "tsx" && id !== "c++").sort();
  assert.deepEqual([...SUPPORTED_LANGUAGE_IDS].sort(), vscodeIds);
  const activation = manifest.activationEvents.map((e: string) => e.replace("onLanguage:", "")).sort();
  assert.deepEqual(activation, vscodeIds);
});

/** The argument text of each `name...)` call in `source`, by matching parentheses. */
function calls(source: string, name: string): string[] {
  const found: string[] = [];
  for (let at = source.indexOf(name); at >= 0; at = source.indexOf(name, at + 1)) {
    let depth = 0;
    for (let i = at + name.length - 1; i < source.length; i++) {
      if (source[i] === "(") depth++;
      if (source[i] === ")" && --depth === 0) {
        found.push(source.slice(at + name.length, i));
        break;
      }
    }
  }
  return found;
}
