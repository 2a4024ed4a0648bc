// The language client around `dglsp --stdio`: discovery, start, stop, settings, and the two
// custom notifications. VS Code's inline suggestion UI comes from vscode-languageclient's
// inline completion feature; only drafts and status need code here.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as readline from "node:readline";
import type { Readable } from "node:stream";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  State,
} from "vscode-languageclient/node";
import { DraftParams } from "./draftFilter";
import { DraftRenderer } from "./drafts";
import { selectedInterpreter } from "./python";
import { serverLineLevels } from "./serverLog";
import { Candidate, describeFailure, discoverServer, parseVersion, Probe, serverCandidates } from "./serverDiscovery";
import { changedKeys, ExtensionSettings, languageEnabled, needsRestart, serverArguments, toServerSettings } from "./settings";
import { StatusBar } from "./statusBar";
import { isStatusParams, StatusParams } from "./statusText";

export const DRAFT_NOTIFICATION = "dglsp/draft";
export const STATUS_NOTIFICATION = "dglsp/status";
export const STATUS_COMMAND = "dglsp.status";
export const CONTEXT_COMMAND = "dglsp.context";

// Settings the server does not read: changing only these sends no didChangeConfiguration.
const CLIENT_ONLY: (keyof ExtensionSettings)[] = ["enable", "serverPath", "logLevel"];

export interface ContextResult {
  text: string;
  context: unknown;
}

export class DglspClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private server: Candidate | undefined;
  /** One start or stop at a time; restarts queue behind it. */
  private queue: Promise<void> = Promise.resolve();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private settings: ExtensionSettings,
    private readonly readSettings: () => ExtensionSettings,
    private readonly log: vscode.LogOutputChannel,
    private readonly status: StatusBar,
    private readonly drafts: DraftRenderer,
    private readonly installDocs: () => Thenable<unknown>,
  ) {
    this.status.setClient({ client: "starting", enabled: settings.enable });
  }

  get current(): ExtensionSettings {
    return this.settings;
  }

  /** The command that started the server (also how the doctor runs). */
  get serverCommand(): Candidate | undefined {
    return this.server;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  restart(): Promise<void> {
    return this.enqueue(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  /** Re-reads the settings: the server gets them through didChangeConfiguration, or restarts. */
  async onSettingsChanged(): Promise<void> {
    const before = this.settings;
    const after = this.readSettings();
    this.settings = after;
    const changed = changedKeys(before, after);
    if (changed.length === 0) return;
    this.log.info(`settings changed: ${changed.join(", ")}`);
    if (!after.enable || !after.drafts) this.drafts.clearAll();
    this.status.setClient({ ...this.clientState(), enabled: after.enable });
    if (needsRestart(before, after)) {
      await this.restart();
      return;
    }
    const client = this.client;
    if (client?.isRunning() && changed.some((key) => !CLIENT_ONLY.includes(key))) {
      await client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { dglsp: toServerSettings(after) },
      });
    }
  }

  /** The server's `dglsp.context` view of a position (docs/protocol.md). */
  async explainContext(document: vscode.TextDocument, position: vscode.Position): Promise<ContextResult> {
    const client = this.client;
    if (!client?.isRunning()) throw new Error("the dglsp server is not running");
    const result: unknown = await client.sendRequest(ExecuteCommandRequest.type, {
      command: CONTEXT_COMMAND,
      arguments: [
        {
          textDocument: { uri: client.code2ProtocolConverter.asUri(document.uri) },
          position: { line: position.line, character: position.character },
        },
      ],
    });
    if (typeof result !== "object" || result === null || typeof (result as ContextResult).text !== "string") {
      throw new Error("the server answered dglsp.context without a text");
    }
    return result as ContextResult;
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(work, work).catch((error) => {
      this.log.error(`dglsp client: ${error instanceof Error ? error.message : String(error)}`);
    });
    return this.queue;
  }

  private clientState() {
    const running = this.client?.isRunning() ?? false;
    return { client: running ? ("running" as const) : this.client ? ("starting" as const) : ("stopped" as const), enabled: this.settings.enable };
  }

  private async doStart(): Promise<void> {
    this.settings = this.readSettings();
    this.status.setStatus(undefined);
    this.status.setClient({ client: "starting", enabled: this.settings.enable });
    const discovery = await discoverServer(
      serverCandidates({
        serverPath: this.settings.serverPath,
        pathEnv: process.env.PATH,
        platform: process.platform,
        homeDir: os.homedir(),
        pythonCommand: await selectedInterpreter(vscode.workspace.workspaceFolders?.[0]?.uri, this.log),
        isExecutableFile,
      }),
      probeVersion,
      (line) => this.log.info(line),
    );
    if (!discovery.server) {
      const message = describeFailure(discovery);
      this.log.error(message);
      this.status.setClient({ client: "stopped", enabled: this.settings.enable, problem: "dglsp was not found" });
      void this.notifyNotFound(message);
      return;
    }
    this.server = discovery.server;
    const client = new LanguageClient(
      "dglsp",
      "dglsp",
      {
        command: this.server.command,
        args: [...this.server.args, ...serverArguments(this.settings)],
        options: { cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath, env: process.env },
      },
      this.clientOptions(),
    );
    client.onDidChangeState((event) => {
      if (this.client !== client) return;
      if (event.newState === State.Running) this.status.setClient({ client: "running", enabled: this.settings.enable });
      if (event.newState === State.Starting) this.status.setClient({ client: "starting", enabled: this.settings.enable });
      if (event.newState === State.Stopped) {
        this.drafts.clearAll();
        this.status.setClient({
          client: "stopped",
          enabled: this.settings.enable,
          problem: "the server stopped; Show Logs has its output",
        });
      }
    });
    client.onNotification(DRAFT_NOTIFICATION, (params: DraftParams) => {
      if (this.client === client && this.settings.enable) this.drafts.onDraft(params);
    });
    client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
      if (this.client === client && isStatusParams(params)) this.status.setStatus(params);
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.log.error(`the dglsp server did not start: ${error instanceof Error ? error.message : String(error)}`);
      this.status.setClient({ client: "stopped", enabled: this.settings.enable, problem: "the server did not start" });
      return;
    }
    this.status.setClient({ client: "running", enabled: this.settings.enable });
    await this.fetchStatus(client);
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.drafts.clearAll();
    if (client?.needsStop()) {
      try {
        await client.stop(5000);
      } catch (error) {
        this.log.warn(`stopping the server: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await client?.dispose().catch(() => undefined);
  }

  /** The state a server reached before our status handler saw it, from `dglsp.status`. */
  private async fetchStatus(client: LanguageClient): Promise<void> {
    const commands = client.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
    if (!commands.includes(STATUS_COMMAND)) {
      this.log.warn("this dglsp does not report its state (no dglsp.status command); the status bar shows less");
      const model = this.settings.model.trim().split(/[\\/]/).filter(Boolean).pop() || "dglsp";
      this.status.setStatus(fallbackStatus(model, this.settings));
      return;
    }
    try {
      const result: unknown = await client.sendRequest(ExecuteCommandRequest.type, { command: STATUS_COMMAND });
      // A notification may have arrived meanwhile; it is at least as new as this answer.
      if (this.client === client && isStatusParams(result) && !this.status.current) this.status.setStatus(result);
    } catch (error) {
      this.log.warn(`dglsp.status failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private clientOptions(): LanguageClientOptions {
    return {
      // Every file: the `languages` setting filters here and in the server, so turning a
      // language on or off needs no restart.
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      initializationOptions: toServerSettings(this.settings),
      outputChannel: this.log,
      stdioOptions: { stdout: pipeLines, stderr: pipeLines },
      middleware: {
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          if (!this.settings.enable || !languageEnabled(this.settings, document.languageId)) return null;
          const handle = this.drafts.begin(document, position);
          try {
            return await next(document, position, context, token);
          } finally {
            this.drafts.end(handle);
          }
        },
        // The server answers textDocument/completion with nothing to clients that declared
        // inline completion: skip the round trip on every keystroke.
        provideCompletionItem: () => null,
        workspace: {
          // The server asks for the `dglsp` section when it gets empty settings.
          configuration: async (params, token, next) => {
            const answer = await next(params, token);
            if (!Array.isArray(answer)) return answer;
            return params.items.map((item, index) =>
              item.section === "dglsp" ? toServerSettings(this.settings) : answer[index],
            );
          },
        },
      },
    };
  }

  private async notifyNotFound(message: string): Promise<void> {
    const install = "Install instructions";
    const settings = "Open Settings";
    const logs = "Show Logs";
    const choice = await vscode.window.showErrorMessage(message, install, settings, logs);
    if (choice === install) await this.installDocs();
    if (choice === settings) await vscode.commands.executeCommand("workbench.action.openSettings", "dglsp.serverPath");
    if (choice === logs) this.log.show();
  }

  dispose(): void {
    void this.stop();
    this.subscriptions.forEach((s) => s.dispose());
  }
}

function fallbackStatus(model: string, settings: ExtensionSettings): StatusParams {
  return {
    state: "ready",
    model,
    modelPath: settings.model,
    engine: settings.engine || "auto",
    device: settings.device || "auto",
    message: "This dglsp does not report its state.",
    percentage: null,
    lastLatencyMs: null,
  };
}

/** Each line of a server stream into the log channel, at the level the server gave it. */
function pipeLines(input: Readable, channel: vscode.LogOutputChannel): void {
  const levelOf = serverLineLevels();
  readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on("line", (line) => {
    channel[levelOf(line)](line);
  });
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `<command> --version`: dglsp answers "dglsp X.Y.Z" in well under a second once installed. */
const probeVersion: Probe = (server) =>
  new Promise((resolve) => {
    execFile(server.command, [...server.args, "--version"], { timeout: 30_000 }, (error, stdout, stderr) => {
      const version = parseVersion(String(stdout));
      if (version) resolve({ ok: true, version });
      else if (error) resolve({ ok: false, error: lastLine(String(stderr)) || error.message });
      else resolve({ ok: false, error: `answered ${JSON.stringify(lastLine(String(stdout)))}, not a dglsp version` });
    });
  });

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return (lines.at(-1) ?? "").trim().slice(0, 200);
}
