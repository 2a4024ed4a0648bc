// "Run doctor": `<server command> doctor` into an output channel.
import { spawn } from "node:child_process";
import * as vscode from "vscode";
import { ServerCommand } from "./serverDiscovery";
import { ExtensionSettings } from "./settings";

/** The doctor's arguments: it checks the model and device this window's settings use. */
export function doctorArguments(settings: ExtensionSettings): string[] {
  const args = ["doctor"];
  if (settings.model.trim()) args.push("--model", settings.model.trim());
  if (settings.device.trim()) args.push("--device", settings.device.trim());
  return args;
}

/** Runs the doctor, streaming its report into `channel`; resolves with its exit status. */
export function runDoctor(
  server: ServerCommand,
  settings: ExtensionSettings,
  channel: vscode.OutputChannel,
): Promise<number | null> {
  const args = [...server.args, ...doctorArguments(settings)];
  channel.clear();
  channel.show(true);
  channel.appendLine(`$ ${[server.command, ...args].join(" ")}`);
  return new Promise((resolve) => {
    const child = spawn(server.command, args, { env: process.env });
    child.stdout.on("data", (chunk: Buffer) => channel.append(chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => channel.append(chunk.toString()));
    child.on("error", (error) => {
      channel.appendLine(`cannot run the doctor: ${error.message}`);
      resolve(null);
    });
    child.on("close", (code) => {
      channel.appendLine(
        code === 0 ? "\ndoctor: no check failed (exit 0)" : `\ndoctor: a check failed (exit ${code}); see the fix: lines above`,
      );
      resolve(code);
    });
  });
}
