// The WebSocket transport: one JSON-RPC message per text frame, plus plain-HTTP health probes on the same port.
// Loopback by default. Off loopback a token is required: clients present `Authorization: Bearer <token>` on the
// upgrade (the header Codex's `--ws-auth capability-token` checks; like Codex, no query-string token, which would
// end up in logs). Without a token, an upgrade carrying a browser `Origin` that is not loopback is refused, so a
// web page cannot drive a local host (cross-site WebSocket hijacking).
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { isIP, type AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { InsecureListenError, InvalidConfigError } from "../errors.js";
import { OUTGOING_QUEUE_CAPACITY, type Connection } from "./connection.js";
import { OutgoingBacklog } from "./outgoing-backlog.js";

/** The largest message (frame payload) accepted from a client; past it the connection is closed with 1009. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Bytes queued for a client before it counts as not reading, however few messages they are. */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Close code for a binary frame (RFC 6455: a data type the endpoint cannot accept). */
export const CLOSE_UNSUPPORTED_DATA = 1003;
/** How long a closing connection may take to finish the closing handshake before it is cut. */
const CLOSE_GRACE_MS = 2_000;
/**
 * How often each client is pinged. A client that has not answered the previous ping by the next one is cut: a
 * peer that vanished without closing (a dropped network, a suspended laptop) would otherwise hold its connection,
 * and the conversations' events queued for it, forever.
 */
export const PING_INTERVAL_MS = 30_000;

export type WebSocketListenOptions = {
  host: string;
  /** 0 picks a free port (the listener's `url` names it). */
  port: number;
  /** Required off loopback; when set, every upgrade must carry `Authorization: Bearer <token>`. */
  token?: string;
  onConnection: (connection: Connection) => void;
  /** Whether `GET /readyz` answers 200 (else 503); always ready when absent. */
  readiness?: () => boolean;
  maxMessageBytes?: number;
  maxBufferedBytes?: number;
  pingIntervalMs?: number;
};

export type WebSocketListener = {
  /** `ws://host:port`, with the port actually bound. */
  readonly url: string;
  /** Closes every client (1001) and stops listening. */
  close(): Promise<void>;
};

/** Whether `host` (an address or "localhost", IPv6 with or without brackets) is a loopback address. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1" || /^::ffff:127\./.test(bare);
  return false;
}

export async function listenWebSocket(options: WebSocketListenOptions): Promise<WebSocketListener> {
  const { host, port, token, onConnection } = options;
  if (token !== undefined && token.trim() === "") throw new InvalidConfigError("the WebSocket token is empty");
  if (!isLoopbackHost(host) && token === undefined) throw new InsecureListenError(host);
  const readiness = options.readiness ?? (() => true);
  const limits = {
    capacity: OUTGOING_QUEUE_CAPACITY,
    maxBufferedBytes: options.maxBufferedBytes ?? MAX_BUFFERED_BYTES,
    pingIntervalMs: options.pingIntervalMs ?? PING_INTERVAL_MS,
  };
  const expectedDigest = token === undefined ? undefined : digest(token);

  const server = createServer((request, response) => answerHttp(request, response, readiness));
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes ?? MAX_MESSAGE_BYTES });

  server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const refusal = upgradeRefusal(request, expectedDigest);
    if (refusal !== undefined) {
      refuseUpgrade(socket, refusal.status, refusal.reason);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const label = `ws ${request.socket.remoteAddress ?? "?"}:${request.socket.remotePort ?? "?"}`;
      onConnection(webSocketConnection(ws, label, limits));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = isIP(host) === 6 ? `[${host}]` : host;

  return {
    url: `ws://${shownHost}:${address.port}`,
    async close(): Promise<void> {
      const clients = [...wss.clients];
      await Promise.all(
        clients.map(
          (client) =>
            new Promise<void>((resolve) => {
              if (client.readyState === client.CLOSED) return resolve();
              client.once("close", () => resolve());
              client.close(1001, "server shutting down");
              setTimeout(() => client.terminate(), CLOSE_GRACE_MS).unref();
            }),
        ),
      );
      await new Promise<void>((resolve) => {
        wss.close(() => resolve());
      });
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Why an upgrade is refused, or undefined to accept it. */
function upgradeRefusal(request: IncomingMessage, expectedDigest: Buffer | undefined): { status: number; reason: string } | undefined {
  if (expectedDigest !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? "");
    // Digests have one length, so the comparison takes the same time whatever was presented.
    if (match?.[1] === undefined || !timingSafeEqual(digest(match[1]), expectedDigest)) {
      return { status: 401, reason: "Unauthorized" };
    }
    return undefined;
  }
  const origin = request.headers.origin;
  if (origin !== undefined && !isLoopbackOrigin(origin)) return { status: 403, reason: "Forbidden" };
  return undefined;
}

function isLoopbackOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && isLoopbackHost(url.hostname);
  } catch {
    return false;
  }
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function answerHttp(request: IncomingMessage, response: ServerResponse, readiness: () => boolean): void {
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  const reply = (status: number, body: string): void => {
    response.writeHead(status, { "Content-Type": "text/plain", "Cache-Control": "no-store" });
    response.end(request.method === "HEAD" ? undefined : `${body}\n`);
  };
  if (path !== "/healthz" && path !== "/readyz") return reply(404, "not found");
  if (request.method !== "GET" && request.method !== "HEAD") return reply(405, "method not allowed");
  if (path === "/healthz") return reply(200, "ok");
  let ready = false;
  try {
    ready = readiness();
  } catch {
    ready = false;
  }
  reply(ready ? 200 : 503, ready ? "ready" : "not ready");
}

function frameHeaderBytes(payloadBytes: number): number {
  if (payloadBytes < 126) return 2;
  return payloadBytes < 65_536 ? 4 : 10;
}

function messageText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}

function webSocketConnection(
  ws: WebSocket,
  label: string,
  limits: { capacity: number; maxBufferedBytes: number; pingIntervalMs: number },
): Connection {
  const backlog = new OutgoingBacklog(limits.capacity, limits.maxBufferedBytes);
  let messageHandler: ((text: string) => void) | undefined;
  const early: string[] = [];
  const closeHandlers: Array<() => void> = [];
  let closed = false;

  // Oversized frames (`maxPayload`) and invalid UTF-8 end in an error, then a close: the close is what counts.
  ws.on("error", () => {});
  ws.on("message", (data: RawData, isBinary: boolean) => {
    if (isBinary) {
      ws.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted: send JSON-RPC messages as text");
      return;
    }
    const text = messageText(data);
    if (messageHandler) messageHandler(text);
    else early.push(text);
  });
  let answered = true;
  ws.on("pong", () => (answered = true));
  const heartbeat = setInterval(() => {
    if (!answered) return ws.terminate();
    answered = false;
    ws.ping();
  }, limits.pingIntervalMs);
  heartbeat.unref();
  ws.once("close", () => {
    clearInterval(heartbeat);
    closed = true;
    for (const handler of closeHandlers.splice(0)) handler();
  });

  return {
    label,
    send(text: string): boolean {
      if (closed || ws.readyState !== ws.OPEN) return false;
      if (!backlog.admits(ws.bufferedAmount)) return false;
      const bytes = Buffer.byteLength(text);
      ws.send(text);
      backlog.record(bytes + frameHeaderBytes(bytes));
      return true;
    },
    onMessage(handler: (text: string) => void): void {
      messageHandler = handler;
      for (const text of early.splice(0)) handler(text);
    },
    onClose(handler: () => void): void {
      if (closed) handler();
      else closeHandlers.push(handler);
    },
    close(): void {
      if (closed || ws.readyState === ws.CLOSING) return;
      ws.close(1000);
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    },
  };
}
