// Draws `dglsp/draft` notifications at the cursor while an inline completion is in flight.
import * as vscode from "vscode";
import { DraftFilter, DraftParams, draftDisplayText, LspPosition, RequestHandle } from "./draftFilter";

// Dimmed and italic so a draft never reads as the real suggestion. The CSS custom property
// is a stable marker (VS Code's decoration class names are generated): the end-to-end test
// finds drafts by it. VS Code copies `textDecoration` into the rule as is.
const DRAFT_STYLE: vscode.ThemableDecorationAttachmentRenderOptions = {
  color: new vscode.ThemeColor("editorGhostText.foreground"),
  fontStyle: "italic",
  textDecoration: "none; opacity: 0.6; --dglsp-draft: 1",
};

export class DraftRenderer implements vscode.Disposable {
  readonly filter = new DraftFilter();
  private readonly type = vscode.window.createTextEditorDecorationType({
    after: DRAFT_STYLE,
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
  /** Documents (by URI) with a draft on screen. */
  private readonly shown = new Set<string>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.subscriptions.push(
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.contentChanges.length === 0) return;
        this.forget(event.document.uri.toString());
      }),
      vscode.workspace.onDidCloseTextDocument((document) => this.forget(document.uri.toString())),
      vscode.window.onDidChangeTextEditorSelection((event) => {
        // A request is for one cursor position; when the cursor leaves it, VS Code cancels
        // the request, and its draft must go now, not when the cancellation comes back.
        const uri = event.textEditor.document.uri.toString();
        const pending = this.filter.pendingPosition(uri);
        const cursor = event.selections[0]?.active;
        if (pending && cursor && (pending.line !== cursor.line || pending.character !== cursor.character)) {
          this.forget(uri);
        }
      }),
    );
  }

  /** An inline completion request is about to be sent. */
  begin(document: vscode.TextDocument, position: vscode.Position): RequestHandle {
    const lsp: LspPosition = { line: position.line, character: position.character };
    return this.filter.begin(document.uri.toString(), document.version, lsp);
  }

  /** Its answer arrived (or it failed or was cancelled): VS Code's ghost text takes over. */
  end(handle: RequestHandle): void {
    if (this.filter.end(handle)) this.clear(handle.uri);
  }

  /** Handles one `dglsp/draft` notification. */
  onDraft(draft: DraftParams): void {
    const uri = draft.textDocument.uri;
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    const decision = this.filter.accept(draft, document?.version);
    if (decision.action === "drop") {
      this.log.trace(`draft step ${draft.step} dropped: ${decision.reason}`);
      return;
    }
    if (decision.action === "clear" || !document) {
      this.clear(uri);
      return;
    }
    const position = new vscode.Position(draft.position.line, draft.position.character);
    const text = draftDisplayText(draft, document.lineAt(position.line).text);
    if (!text) {
      this.clear(uri);
      return;
    }
    const decoration: vscode.DecorationOptions = {
      range: new vscode.Range(position, position),
      renderOptions: { after: { ...DRAFT_STYLE, contentText: text } },
      hoverMessage: `dglsp draft, step ${draft.step} of at most ${draft.totalSteps}`,
    };
    for (const editor of this.editorsOf(uri)) editor.setDecorations(this.type, [decoration]);
    this.shown.add(uri);
  }

  /** Removes every draft on screen (completions turned off, server restarting). */
  clearAll(): void {
    for (const uri of [...this.shown]) this.clear(uri);
  }

  private forget(uri: string): void {
    this.filter.forget(uri);
    this.clear(uri);
  }

  private clear(uri: string): void {
    if (!this.shown.delete(uri)) return;
    for (const editor of this.editorsOf(uri)) editor.setDecorations(this.type, []);
  }

  private editorsOf(uri: string): readonly vscode.TextEditor[] {
    return vscode.window.visibleTextEditors.filter((editor) => editor.document.uri.toString() === uri);
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
    this.type.dispose();
  }
}
