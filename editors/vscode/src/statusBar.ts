// The one status bar item: engine state, model, last latency; a click opens the menu.
import * as vscode from "vscode";
import { ClientState, formatStatus, StatusParams } from "./statusText";

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("status", vscode.StatusBarAlignment.Right, 100);
  private status: StatusParams | undefined;
  private client: ClientState = { client: "starting", enabled: true };

  constructor(menuCommand: string) {
    this.item.name = "dglsp";
    this.item.command = menuCommand;
    this.render();
    this.item.show();
  }

  /** The server's latest `dglsp/status` (undefined when a new server starts). */
  setStatus(status: StatusParams | undefined): void {
    this.status = status;
    this.render();
  }

  setClient(client: ClientState): void {
    this.client = client;
    this.render();
  }

  get current(): StatusParams | undefined {
    return this.status;
  }

  private render(): void {
    const view = formatStatus(this.status, this.client);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.accessibilityInformation = { label: view.label, role: "button" };
    this.item.backgroundColor =
      view.kind === "error"
        ? new vscode.ThemeColor("statusBarItem.errorBackground")
        : view.kind === "warning"
          ? new vscode.ThemeColor("statusBarItem.warningBackground")
          : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
