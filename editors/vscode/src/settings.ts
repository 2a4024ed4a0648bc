// VS Code's `dglsp.*` settings and what the server receives from them.
// No `vscode` import: the unit tests run the mapping on plain objects.

/** The `dglsp.*` settings as the extension uses them (read with defaults, bad types replaced). */
export interface ExtensionSettings {
  enable: boolean;
  serverPath: string;
  model: string;
  device: string;
  engine: string;
  steps: number;
  canvasPolicy: "auto" | "fixed";
  canvasLength: number;
  strategy: "prompt" | "pinned";
  experts: "auto" | "grouped_mm" | "eager" | "batched_mm";
  dtype: "auto" | "bfloat16" | "float32" | "fp8";
  entropyBound: number;
  drafts: boolean;
  debounceMs: number;
  contextBudget: number;
  languages: string[];
  logLevel: "debug" | "info" | "warning" | "error";
}

/** The languages dglsp has a grammar for, as VS Code language ids (dglsp/languages.py). */
export const SUPPORTED_LANGUAGE_IDS: readonly string[] = [
  "python",
  "javascript",
  "javascriptreact",
  "typescript",
  "typescriptreact",
  "rust",
  "go",
  "c",
  "cpp",
  "java",
];

export const DEFAULTS: ExtensionSettings = {
  enable: true,
  serverPath: "",
  model: "",
  device: "",
  engine: "",
  steps: 48,
  canvasPolicy: "auto",
  canvasLength: 0,
  strategy: "prompt",
  experts: "auto",
  dtype: "auto",
  entropyBound: 0.1,
  drafts: true,
  debounceMs: 150,
  contextBudget: 2048,
  languages: [...SUPPORTED_LANGUAGE_IDS],
  logLevel: "info",
};

/** Settings that only take effect when the server process starts again. */
export const RESTART_KEYS: readonly (keyof ExtensionSettings)[] = ["serverPath", "logLevel"];

/**
 * Reads every setting through `get` (VS Code's `WorkspaceConfiguration.get`), keeping the
 * default where a value has the wrong type: the server validates ranges and reports them.
 */
export function readSettings(get: (key: string) => unknown): ExtensionSettings {
  const out: Record<string, unknown> = {};
  for (const [key, fallback] of Object.entries(DEFAULTS)) {
    const value = get(key);
    out[key] = sameType(value, fallback) ? value : fallback;
  }
  const settings = out as unknown as ExtensionSettings;
  settings.languages = settings.languages.filter((id) => typeof id === "string" && id.trim() !== "");
  if (!["auto", "fixed"].includes(settings.canvasPolicy)) settings.canvasPolicy = DEFAULTS.canvasPolicy;
  if (!["prompt", "pinned"].includes(settings.strategy)) settings.strategy = DEFAULTS.strategy;
  if (!["auto", "grouped_mm", "eager", "batched_mm"].includes(settings.experts)) settings.experts = DEFAULTS.experts;
  if (!["auto", "bfloat16", "float32", "fp8"].includes(settings.dtype)) settings.dtype = DEFAULTS.dtype;
  if (!["debug", "info", "warning", "error"].includes(settings.logLevel)) settings.logLevel = DEFAULTS.logLevel;
  return settings;
}

function sameType(value: unknown, fallback: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(fallback)) return Array.isArray(value);
  return typeof value === typeof fallback && !(typeof value === "number" && !Number.isFinite(value));
}

// VS Code language ids whose dglsp name differs (dglsp/languages.py LANGUAGES.lsp_ids).
const DGLSP_NAME: Record<string, string> = { javascriptreact: "javascript", typescriptreact: "tsx" };

/** The `languages` setting as the server names languages; `*` stays `*`. */
export function serverLanguages(languageIds: string[]): string[] {
  if (languageIds.includes("*")) return ["*"];
  return [...new Set(languageIds.map((id) => DGLSP_NAME[id] ?? id))];
}

/** Whether completions are wanted in a document of this VS Code language id. */
export function languageEnabled(settings: ExtensionSettings, languageId: string): boolean {
  return settings.languages.includes("*") || settings.languages.includes(languageId);
}

/**
 * The server's settings (camelCase keys, docs/protocol.md), sent as initializationOptions
 * and again on every change. Empty strings leave the server's own default; `status` is
 * always on because the status bar renders it.
 */
export function toServerSettings(settings: ExtensionSettings): Record<string, unknown> {
  const out: Record<string, unknown> = {
    steps: settings.steps,
    canvasPolicy: settings.canvasPolicy,
    canvasLength: settings.canvasLength,
    strategy: settings.strategy,
    experts: settings.experts,
    dtype: settings.dtype,
    entropyBound: settings.entropyBound,
    drafts: settings.drafts,
    debounceMs: settings.debounceMs,
    contextBudget: settings.contextBudget,
    languages: serverLanguages(settings.languages),
    status: true,
  };
  for (const key of ["model", "device", "engine"] as const) {
    const value = settings[key].trim();
    if (value) out[key] = value;
  }
  return out;
}

/** dglsp's command-line arguments for the language server. */
export function serverArguments(settings: ExtensionSettings): string[] {
  return ["--stdio", "--log-level", settings.logLevel];
}

/** Keys whose values differ between two readings. */
export function changedKeys(before: ExtensionSettings, after: ExtensionSettings): (keyof ExtensionSettings)[] {
  return (Object.keys(DEFAULTS) as (keyof ExtensionSettings)[]).filter(
    (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
  );
}

/**
 * Whether a settings change needs a new server process rather than didChangeConfiguration:
 * the command line changed, or `model`, `device` or `engine` went back to empty. The server
 * then falls back to initializationOptions, which still hold the old value.
 */
export function needsRestart(before: ExtensionSettings, after: ExtensionSettings): boolean {
  const changed = changedKeys(before, after);
  if (changed.some((key) => RESTART_KEYS.includes(key))) return true;
  return (["model", "device", "engine"] as const).some(
    (key) => changed.includes(key) && before[key].trim() !== "" && after[key].trim() === "",
  );
}
