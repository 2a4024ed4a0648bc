// The status bar item's menu.
import * as vscode from "vscode";

interface MenuItem extends vscode.QuickPickItem {
  command: string;
}

export async function showMenu(enabled: boolean, title: string): Promise<void> {
  const items: MenuItem[] = [
    enabled
      ? { label: "$(circle-slash) Turn completions off", command: "dglsp.toggleCompletions" }
      : { label: "$(check) Turn completions on", command: "dglsp.toggleCompletions" },
    {
      label: "$(search) Explain context",
      description: "what the model sees at the cursor (dglsp context)",
      command: "dglsp.explainContext",
    },
    { label: "$(pulse) Run doctor", description: "check torch, CUDA, the model and grammars", command: "dglsp.runDoctor" },
    { label: "$(debug-restart) Restart server", command: "dglsp.restartServer" },
    { label: "$(gear) Open settings", command: "dglsp.openSettings" },
    { label: "$(output) Show logs", command: "dglsp.showLogs" },
  ];
  const choice = await vscode.window.showQuickPick(items, { title, placeHolder: "dglsp" });
  if (choice) await vscode.commands.executeCommand(choice.command);
}
