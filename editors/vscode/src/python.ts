// The Python extension's selected interpreter, for `python -m dglsp`.
import * as vscode from "vscode";

const PYTHON_EXTENSION = "ms-python.python";

// The parts of the Python extension's API used here (its `environments` API, with the older
// `settings.getExecutionDetails` as a fallback).
interface PythonApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(env: { path: string }): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
  settings?: {
    getExecutionDetails(resource?: vscode.Uri): { execCommand: string[] | undefined };
  };
}

async function api(): Promise<PythonApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonApi>(PYTHON_EXTENSION);
  if (!extension) return undefined;
  return extension.isActive ? extension.exports : await extension.activate();
}

/** The selected interpreter as a command line, or undefined without the Python extension. */
export async function selectedInterpreter(
  resource: vscode.Uri | undefined,
  log: vscode.LogOutputChannel,
): Promise<string[] | undefined> {
  try {
    const python = await api();
    if (!python) return undefined;
    if (python.environments) {
      const active = python.environments.getActiveEnvironmentPath(resource);
      const resolved = await python.environments.resolveEnvironment(active);
      const executable = resolved?.executable.uri?.fsPath;
      if (executable) return [executable];
    }
    const command = python.settings?.getExecutionDetails(resource).execCommand;
    return command?.length ? command : undefined;
  } catch (error) {
    log.warn(`the Python extension did not give an interpreter: ${String(error)}`);
    return undefined;
  }
}

/** Fires when the user picks another interpreter (nothing without the Python extension). */
export async function onInterpreterChange(listener: () => void): Promise<vscode.Disposable | undefined> {
  try {
    const event = (await api())?.environments?.onDidChangeActiveEnvironmentPath;
    return event ? event(listener) : undefined;
  } catch {
    return undefined;
  }
}
