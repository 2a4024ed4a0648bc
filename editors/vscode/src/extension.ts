// Entry point: wires the language client, drafts, status bar, menu and commands together.
import * as fs from "node:fs";
import * as vscode from "vscode";
import { DglspClient } from "./client";
import { CONTEXT_SCHEME, ContextDocuments } from "./contextView";
import { runDoctor } from "./doctor";
import { DraftRenderer } from "./drafts";
import { showMenu } from "./menu";
import { onInterpreterChange } from "./python";
import { readSettings } from "./settings";
import { StatusBar } from "./statusBar";
import { formatStatus } from "./statusText";

let client: DglspClient | undefined;

function currentSettings() {
  const config = vscode.workspace.getConfiguration("dglsp");
  return readSettings((key) => config.get(key));
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel("dglsp", { log: true });
  const doctorChannel = vscode.window.createOutputChannel("dglsp doctor");
  const status = new StatusBar("dglsp.showMenu");
  const drafts = new DraftRenderer(log);
  const contexts = new ContextDocuments();
  // The README ships in the .vsix (vsce names it readme.md), so the install instructions
  // open offline.
  const readme = ["readme.md", "README.md"]
    .map((name) => vscode.Uri.joinPath(context.extensionUri, name))
    .find((uri) => fs.existsSync(uri.fsPath));
  const installDocs = () =>
    readme ? vscode.commands.executeCommand("markdown.showPreview", readme) : Promise.resolve();
  const dglsp = new DglspClient(currentSettings(), currentSettings, log, status, drafts, installDocs);
  client = dglsp;

  const register = (id: string, run: () => unknown) => vscode.commands.registerCommand(id, run);
  context.subscriptions.push(
    log,
    doctorChannel,
    status,
    drafts,
    contexts,
    dglsp,
    vscode.workspace.registerTextDocumentContentProvider(CONTEXT_SCHEME, contexts),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("dglsp")) void dglsp.onSettingsChanged();
    }),
    register("dglsp.showMenu", () => {
      const title = formatStatus(status.current, { client: "running", enabled: dglsp.current.enable }).label;
      return showMenu(dglsp.current.enable, title);
    }),
    register("dglsp.toggleCompletions", () =>
      vscode.workspace
        .getConfiguration("dglsp")
        .update("enable", !dglsp.current.enable, vscode.ConfigurationTarget.Global),
    ),
    register("dglsp.explainContext", async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor || editor.document.uri.scheme === CONTEXT_SCHEME) {
        void vscode.window.showInformationMessage("dglsp: put the cursor in a file to explain its context.");
        return;
      }
      const position = editor.selection.active;
      try {
        const result = await dglsp.explainContext(editor.document, position);
        await contexts.show(result.text, editor.document.uri, position);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        void vscode.window.showErrorMessage(`dglsp: cannot explain the context: ${message}`);
      }
    }),
    register("dglsp.runDoctor", async () => {
      const server = dglsp.serverCommand;
      if (!server) {
        void vscode.window.showErrorMessage("dglsp: the server was not found, so its doctor cannot run either.");
        return;
      }
      await runDoctor(server, dglsp.current, doctorChannel);
    }),
    register("dglsp.restartServer", () => dglsp.restart()),
    register("dglsp.openSettings", () =>
      vscode.commands.executeCommand("workbench.action.openSettings", "@ext:dglsp.dglsp"),
    ),
    register("dglsp.showLogs", () => log.show()),
  );
  await dglsp.start();
  // A server run as `python -m dglsp` follows the interpreter picked in the Python extension.
  const interpreterWatch = await onInterpreterChange(() => {
    if (dglsp.serverCommand?.source !== "setting" && dglsp.serverCommand?.source !== "path") void dglsp.restart();
  });
  if (interpreterWatch) context.subscriptions.push(interpreterWatch);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
