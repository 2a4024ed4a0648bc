// Runs a real VS Code for the end-to-end test: code-server (VS Code 1.99 in the browser)
// with a fresh profile, driven by Debian's headless Chromium through playwright-core.
// Recipe and the reasons for each flag: shared facts, vscode-e2e.md.
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** What the test needs from outside this folder; each missing thing as a sentence. */
export function missingTools(tools, vsix) {
  const missing = [];
  if (!fs.existsSync(codeServerEntry(tools))) {
    missing.push(`code-server is not installed in ${tools} (run .ci/vscode, which installs it)`);
  }
  if (!fs.existsSync(path.join(tools, "node_modules/playwright-core/package.json"))) {
    missing.push(`playwright-core is not installed in ${tools} (run .ci/vscode)`);
  }
  if (!fs.existsSync(CHROMIUM)) missing.push(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);
  if (!fs.existsSync(vsix)) missing.push(`no ${path.basename(vsix)} (run npm run package first)`);
  return missing;
}

function codeServerEntry(tools) {
  return path.join(tools, "node_modules/code-server/out/node/entry.js");
}

export function loadPlaywright(tools) {
  return createRequire(path.join(tools, "package.json"))("playwright-core");
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * One VS Code profile in `dir`: user data, extensions, config and XDG folders, all fresh
 * (code-server writes under ~/.config and ~/.local/share otherwise).
 */
export class Profile {
  constructor(dir, tools) {
    this.dir = dir;
    this.tools = tools;
    this.userData = path.join(dir, "user-data");
    this.extensions = path.join(dir, "extensions");
    this.config = path.join(dir, "code-server.yaml");
    for (const sub of [this.userData, this.extensions, path.join(dir, "xdg-config"), path.join(dir, "xdg-data")]) {
      fs.mkdirSync(sub, { recursive: true });
    }
    fs.writeFileSync(this.config, "auth: none\ncert: false\n");
    this.env = {
      ...process.env,
      XDG_CONFIG_HOME: path.join(dir, "xdg-config"),
      XDG_DATA_HOME: path.join(dir, "xdg-data"),
      HF_HUB_OFFLINE: "1",
      TRANSFORMERS_OFFLINE: "1",
    };
  }

  get settingsFile() {
    return path.join(this.userData, "User", "settings.json");
  }

  writeSettings(settings) {
    fs.mkdirSync(path.dirname(this.settingsFile), { recursive: true });
    fs.writeFileSync(this.settingsFile, JSON.stringify(settings, null, 2));
  }

  commonArgs() {
    return ["--config", this.config, "--user-data-dir", this.userData, "--extensions-dir", this.extensions];
  }

  async installExtension(vsix) {
    const { stdout } = await run(
      process.execPath,
      [codeServerEntry(this.tools), ...this.commonArgs(), "--install-extension", vsix, "--force"],
      { env: this.env, timeout: 60_000 },
    );
    return stdout;
  }
}

/** code-server serving `workspace` with `profile`, its output in `logFile`. */
export class CodeServer {
  static async start(profile, workspace, logFile) {
    const port = await freePort();
    const log = fs.openSync(logFile, "a");
    const child = spawn(
      process.execPath,
      [
        codeServerEntry(profile.tools),
        ...profile.commonArgs(),
        "--auth",
        "none",
        "--bind-addr",
        `127.0.0.1:${port}`,
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        "--disable-proxy",
        "--ignore-last-opened",
        workspace,
      ],
      { env: profile.env, stdio: ["ignore", log, log], detached: true },
    );
    const server = new CodeServer(child, port, workspace);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}; see ${logFile}`);
      try {
        const answer = await fetch(`http://127.0.0.1:${port}/healthz`);
        if (answer.ok) return server;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await server.stop();
    throw new Error(`code-server did not answer /healthz within 60 s; see ${logFile}`);
  }

  constructor(child, port, workspace) {
    this.child = child;
    this.port = port;
    this.url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
  }

  /** Ends code-server, its extension host and the language server it started (one process group). */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    try {
      process.kill(-this.child.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-this.child.pid, "SIGKILL");
      } catch {
        // gone
      }
    }, 5_000);
    await exited;
    clearTimeout(timer);
  }
}

export async function launchBrowser(playwright, dir) {
  return playwright.chromium.launchPersistentContext(path.join(dir, "chromium"), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
