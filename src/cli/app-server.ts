// `llmx app-server`: a long-lived host speaking Codex's app-server protocol (v2 JSON-RPC) to clients written
// for Codex. Standard input/output by default (one JSON message per line; diagnostics go to standard error),
// exiting when standard input closes, after shutting every conversation down; or WebSocket clients with
// `--listen ws://HOST:PORT` until SIGINT/SIGTERM. Every host also serves its control socket (`llmx ps`).
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ConversationManager, LlmxError, defaultHome, loadConfig } from "../index.js";
import type { Connection } from "../app-server/connection.js";
import { startControlSocket, type ControlSocket } from "../app-server/control-socket.js";
import { lineConnection } from "../app-server/line-connection.js";
import { AppServer } from "../app-server/server.js";
import { listenWebSocket, type WebSocketListener } from "../app-server/ws.js";
import { CLI_VERSION } from "../version.js";

export type AppServerCommandOptions = {
  listen: string;
  home?: string;
  config: string[];
  maxConversations: number;
  wsAuth?: string;
  wsTokenFile?: string;
};

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
  const token = await readToken(options);
  const home = options.home ? path.resolve(options.home) : defaultHome();
  const manager = new ConversationManager({ source: "vscode", minThreads: 0, maxConversations: options.maxConversations });
  const server = new AppServer({
    manager,
    home,
    loadConfig: (overrides) =>
      loadConfig({ ...overrides, home, rawOverrides: [...options.config, ...(overrides.rawOverrides ?? [])] }),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const serve = (connection: Connection): void => server.connect(connection);
  let exiting = false;
  let websocket: WebSocketListener | undefined;
  let control: ControlSocket | undefined;
  const exit = (code: number): void => {
    if (exiting) return;
    exiting = true;
    void Promise.allSettled([websocket?.close(), control?.close()])
      .then(() => server.close({ timeoutMs: EXIT_SHUTDOWN_TIMEOUT_MS }))
      .catch((error: unknown) => process.stderr.write(`llmx app-server: ${String(error)}\n`))
      .finally(() => process.exit(code));
  };
  process.once("SIGTERM", () => exit(0));
  process.once("SIGINT", () => exit(130));

  if (target.kind === "ws") {
    websocket = await listenWebSocket({
      host: target.host,
      port: target.port,
      ...(token !== undefined ? { token } : {}),
      onConnection: serve,
      readiness: () => !exiting,
    });
    process.stderr.write(`llmx app-server listening on ${websocket.url}\n`);
  } else {
    const connection = lineConnection(process.stdin, process.stdout, "stdio", { endOutputOnClose: false });
    connection.onClose(() => exit(0));
    serve(connection);
  }
  // Every host can be found (`llmx ps`) and driven through its control socket, whatever its client transport.
  try {
    control = await startControlSocket(home, serve, { listen: websocket?.url ?? null, version: CLI_VERSION });
  } catch (error) {
    process.stderr.write(`llmx app-server: no control socket (llmx ps will not see this host): ${String(error)}\n`);
  }
}

/** The WebSocket capability token, read from `--ws-token-file` (Codex's `--ws-auth capability-token`). */
async function readToken(options: AppServerCommandOptions): Promise<string | undefined> {
  if (options.wsAuth === undefined && options.wsTokenFile === undefined) return undefined;
  if (options.wsAuth !== undefined && options.wsAuth !== "capability-token") {
    throw new LlmxError(`--ws-auth: expected capability-token, got ${options.wsAuth}`);
  }
  if (options.wsTokenFile === undefined) throw new LlmxError("--ws-auth capability-token needs --ws-token-file PATH");
  const token = (await readFile(options.wsTokenFile, "utf8")).trim();
  if (token === "") throw new LlmxError(`--ws-token-file ${options.wsTokenFile} is empty`);
  return token;
}
