// "Explain context": the server's `dglsp.context` view of the cursor in a read-only editor.
import * as vscode from "vscode";

export const CONTEXT_SCHEME = "dglsp-context";

/** Holds the texts of the context views; VS Code shows documents of this scheme read-only. */
export class ContextDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private count = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? "";
  }

  /** Opens `text` beside the current editor, titled after the file and position. */
  async show(text: string, file: vscode.Uri, position: vscode.Position): Promise<void> {
    this.count += 1;
    const name = file.path.split("/").pop() || "untitled";
    const uri = vscode.Uri.from({
      scheme: CONTEXT_SCHEME,
      path: `/${name}:${position.line + 1}:${position.character + 1} context`,
      query: String(this.count),
    });
    this.texts.set(uri.toString(), text);
    const document = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: true });
  }

  dispose(): void {
    this.changed.dispose();
  }
}
