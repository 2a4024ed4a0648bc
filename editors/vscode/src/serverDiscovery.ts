// Finding the dglsp server: the setting, else `dglsp` on PATH, else `python -m dglsp`.
// No `vscode` import: the unit tests run this with fake file systems and probes.
import * as path from "node:path";

/** A way to start dglsp: `command ...args` followed by dglsp's own arguments. */
export interface ServerCommand {
  command: string;
  args: string[];
}

export type CandidateSource = "setting" | "path" | "python";

export interface Candidate extends ServerCommand {
  source: CandidateSource;
  /** How the candidate reads in logs and in the error message. */
  label: string;
  /** Why it cannot be tried at all (e.g. not on PATH); such a candidate is not probed. */
  missing?: string;
}

export interface DiscoveryInput {
  /** The `dglsp.serverPath` setting; empty when not set. */
  serverPath: string;
  /** The PATH of the extension host. */
  pathEnv: string | undefined;
  platform: NodeJS.Platform;
  homeDir: string;
  /** The Python extension's selected interpreter as a command line, when that extension is there. */
  pythonCommand: string[] | undefined;
  isExecutableFile: (file: string) => boolean;
}

/** `~` and `~/...` in a user-written path, as shells do. */
export function expandHome(file: string, homeDir: string): string {
  if (file === "~") return homeDir;
  if (file.startsWith("~/") || file.startsWith("~\\")) return path.join(homeDir, file.slice(2));
  return file;
}

/** The first executable `name` in the PATH directories, or undefined. */
export function findOnPath(
  name: string,
  pathEnv: string | undefined,
  platform: NodeJS.Platform,
  isExecutableFile: (file: string) => boolean,
): string | undefined {
  if (!pathEnv) return undefined;
  const separator = platform === "win32" ? ";" : ":";
  const suffixes = platform === "win32" ? [".exe", ".cmd", ".bat", ""] : [""];
  for (const dir of pathEnv.split(separator)) {
    if (!dir) continue;
    for (const suffix of suffixes) {
      const file = path.join(dir, name + suffix);
      if (isExecutableFile(file)) return file;
    }
  }
  return undefined;
}

/**
 * The ways to start dglsp, in the order to try them. A set `dglsp.serverPath` is the only
 * candidate: a path the user wrote that does not work is an error, not a silent fallback.
 */
export function serverCandidates(input: DiscoveryInput): Candidate[] {
  const setting = input.serverPath.trim();
  if (setting) {
    const command = expandHome(setting, input.homeDir);
    return [{ source: "setting", command, args: [], label: `dglsp.serverPath (${command})` }];
  }
  const found: Candidate[] = [];
  const onPath = findOnPath("dglsp", input.pathEnv, input.platform, input.isExecutableFile);
  found.push(
    onPath
      ? { source: "path", command: onPath, args: [], label: `dglsp on PATH (${onPath})` }
      : { source: "path", command: "dglsp", args: [], label: "dglsp on PATH", missing: "not found" },
  );
  const python = input.pythonCommand?.length
    ? input.pythonCommand
    : [input.platform === "win32" ? "python" : "python3"];
  const args = [...python.slice(1), "-m", "dglsp"];
  const what = input.pythonCommand?.length ? "the selected Python interpreter" : "Python";
  found.push({ source: "python", command: python[0], args, label: `${what} (${[python[0], ...args].join(" ")})` });
  return found;
}

export type ProbeResult = { ok: true; version: string } | { ok: false; error: string };

/** Runs `command ...args --version`; resolves with what it printed or why it failed. */
export type Probe = (server: ServerCommand) => Promise<ProbeResult>;

export interface Attempt {
  candidate: Candidate;
  result: ProbeResult;
}

export interface Discovery {
  server?: Candidate & { version: string };
  attempts: Attempt[];
}

/** Probes the candidates in order and returns the first that answers `--version` as dglsp. */
export async function discoverServer(
  candidates: Candidate[],
  probe: Probe,
  log: (line: string) => void = () => {},
): Promise<Discovery> {
  const attempts: Attempt[] = [];
  for (const candidate of candidates) {
    const result: ProbeResult = candidate.missing
      ? { ok: false, error: candidate.missing }
      : await probe(candidate);
    attempts.push({ candidate, result });
    if (result.ok) {
      log(`server: ${candidate.label}: ${result.version}`);
      return { server: { ...candidate, version: result.version }, attempts };
    }
    log(`server: ${candidate.label}: ${result.error}`);
  }
  return { attempts };
}

/** What `<command> --version` printed, if it is dglsp's answer ("dglsp 0.1.0"). */
export function parseVersion(stdout: string): string | undefined {
  const match = /^dglsp\s+(\S+)/m.exec(stdout.trim());
  return match ? `dglsp ${match[1]}` : undefined;
}

/** The one error message shown when no candidate works, naming what was tried. */
export function describeFailure(discovery: Discovery): string {
  const tried = discovery.attempts.map((a) => `${a.candidate.label}: ${a.result.ok ? "ok" : a.result.error}`);
  const setting = discovery.attempts.some((a) => a.candidate.source === "setting");
  const advice = setting
    ? "Fix the dglsp.serverPath setting, or clear it to search PATH and Python."
    : "Install dglsp in the Python environment VS Code uses, or set dglsp.serverPath.";
  return `dglsp: cannot start the dglsp language server. ${advice} Tried: ${tried.join("; ")}.`;
}
