// What the status bar item says, from the server's `dglsp/status` and the client's own state.
// No `vscode` import: the unit tests check the texts.

export type EngineState = "starting" | "loading" | "ready" | "generating" | "error";

/** The params of `dglsp/status` (and the answer of the `dglsp.status` command). */
export interface StatusParams {
  state: EngineState;
  model: string;
  modelPath: string;
  engine: string;
  device: string;
  message: string;
  percentage: number | null;
  lastLatencyMs: number | null;
}

/** What the extension knows beyond the server's status. */
export interface ClientState {
  /** "running" once the language client started; "stopped" when no server could start. */
  client: "starting" | "running" | "stopped";
  enabled: boolean;
  /** Why the server is not running, when `client` is "stopped". */
  problem?: string;
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** A short sentence for screen readers, also what the end-to-end test reads. */
  label: string;
  kind: "normal" | "warning" | "error";
}

export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

export function formatStatus(status: StatusParams | undefined, client: ClientState): StatusView {
  if (client.client === "stopped") {
    const problem = client.problem ?? "the server is not running";
    return {
      text: "$(error) dglsp",
      tooltip: `dglsp is not running: ${problem}\nClick for the menu.`,
      label: "dglsp error: not running",
      kind: "error",
    };
  }
  const details = status ? detailLines(status) : [];
  const menu = "Click for the menu.";
  if (!client.enabled) {
    return {
      text: "$(circle-slash) dglsp",
      tooltip: ["dglsp: completions are off", ...details, menu].join("\n"),
      label: `dglsp off${status ? `, engine ${status.state}` : ""}`,
      kind: "warning",
    };
  }
  if (!status || client.client === "starting") {
    return {
      text: "$(loading~spin) dglsp",
      tooltip: ["dglsp: starting the server", ...details, menu].join("\n"),
      label: "dglsp starting",
      kind: "normal",
    };
  }
  const latency = formatLatency(status.lastLatencyMs);
  switch (status.state) {
    case "starting":
      return view("$(loading~spin) dglsp", "starting the engine", status, details, "normal");
    case "loading": {
      const percent = status.percentage === null ? "" : ` ${status.percentage}%`;
      return view(`$(loading~spin) dglsp: loading${percent}`, `loading ${status.model}${percent}`, status, details, "normal");
    }
    case "ready": {
      const text = `$(check) dglsp: ${status.model}${latency ? ` · ${latency}` : ""}`;
      return view(text, `ready, ${status.model}`, status, details, "normal");
    }
    case "generating":
      return view(`$(sync~spin) dglsp: ${status.model}`, `generating with ${status.model}`, status, details, "normal");
    case "error":
      return view("$(error) dglsp: error", "error", status, details, "error");
    default:
      return view(`$(question) dglsp: ${String(status.state)}`, String(status.state), status, details, "warning");
  }
}

function view(text: string, what: string, status: StatusParams, details: string[], kind: StatusView["kind"]): StatusView {
  const latency = formatLatency(status.lastLatencyMs);
  const label = `dglsp ${what}${latency ? `, last completion ${latency}` : ""}`;
  return { text, tooltip: [`dglsp: ${what}`, ...details, "Click for the menu."].join("\n"), label, kind };
}

function detailLines(status: StatusParams): string[] {
  const lines = [`model: ${status.modelPath || status.model}`, `engine: ${status.engine}, device: ${status.device}`];
  const latency = formatLatency(status.lastLatencyMs);
  if (latency) lines.push(`last completion: ${latency}`);
  if (status.message) lines.push(status.message);
  return lines;
}

/** Whether a JSON value from the server looks like `dglsp/status` params. */
export function isStatusParams(value: unknown): value is StatusParams {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.state === "string" && typeof v.model === "string";
}
