// `llmx app-server`: a long-lived host speaking Codex's app-server protocol (v2 JSON-RPC) to clients written
// for Codex. Standard input/output by default (one JSON message per line; diagnostics go to standard error);
// it exits when standard input closes, after shutting every conversation down.
import path from "node:path";
import { ConversationManager, LlmxError, defaultHome, loadConfig } from "../index.js";
import { AppServer } from "../app-server/server.js";
import { lineConnection } from "../app-server/line-connection.js";

export type AppServerCommandOptions = { listen: string; home?: string; config: string[]; maxConversations: number };

/** How long conversations get to shut down when the host exits. */
const EXIT_SHUTDOWN_TIMEOUT_MS = 10_000;

export type ListenTarget = { kind: "stdio" } | { kind: "ws"; host: string; port: number };

export function parseListenUrl(url: string): ListenTarget {
  if (url === "stdio://" || url === "stdio") return { kind: "stdio" };
  const ws = /^ws:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(url);
  if (ws) {
    const port = Number(ws[2]);
    if (port <= 65_535) return { kind: "ws", host: (ws[1] as string).replace(/^\[|\]$/g, ""), port };
  }
  throw new LlmxError(`--listen: expected stdio:// or ws://HOST:PORT, got ${url}`);
}

export async function runAppServer(options: AppServerCommandOptions): Promise<void> {
  const target = parseListenUrl(options.listen);
  if (target.kind === "ws") {
    // The WebSocket transport (src/app-server/ws.ts, `listenWebSocket`) is not part of this build.
    throw new LlmxError(`--listen ${options.listen}: the WebSocket transport is not available in this build; use stdio://`);
  }
  const home = options.home ? path.resolve(options.home) : defaultHome();
  const manager = new ConversationManager({ source: "vscode", minThreads: 0, maxConversations: options.maxConversations });
  const server = new AppServer({
    manager,
    home,
    loadConfig: (overrides) =>
      loadConfig({ ...overrides, home, rawOverrides: [...options.config, ...(overrides.rawOverrides ?? [])] }),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const connection = lineConnection(process.stdin, process.stdout, "stdio", { endOutputOnClose: false });
  let exiting = false;
  const exit = (code: number): void => {
    if (exiting) return;
    exiting = true;
    void server
      .close({ timeoutMs: EXIT_SHUTDOWN_TIMEOUT_MS })
      .catch((error: unknown) => process.stderr.write(`llmx app-server: ${String(error)}\n`))
      .finally(() => process.exit(code));
  };
  connection.onClose(() => exit(0));
  process.once("SIGTERM", () => exit(0));
  process.once("SIGINT", () => exit(130));
  server.connect(connection);
}
