// A local OpenAI-compatible model server (Responses and Chat Completions, streamed) for tests and demos. It
// answers by fixed rules (see replies.ts), records every POST, and injects faults on demand.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as z from "zod";
import { chatFrames } from "./chat-sse.js";
import {
  decideReply,
  estimateUsage,
  type MockReply,
  type MockUsage,
  SLOW_DELTA_DELAY_MS,
  SLOW_MARKER,
  UNAUTHORIZED_MARKER,
  UNKNOWN_MODEL,
} from "./replies.js";
import { ChatBody, chatTurn, type MockTurn, ResponsesBody, responsesTurn } from "./requests.js";
import { responsesFrames } from "./responses-sse.js";
import { type SseFrame, writeSse } from "./sse-writer.js";

export type RecordedRequest = {
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
  /** The client's port: requests on one kept-alive connection share it. */
  remotePort: number | undefined;
};

/** Applies to the next `times` (default 1) model requests, in the order queued. */
export type MockFault =
  | { status: number; body?: unknown; headers?: Record<string, string>; times?: number }
  | { dropAfterEvents: number; times?: number };

export type MockModelServer = {
  /** Base URL ending in `/v1`. */
  url: string;
  port: number;
  requests: RecordedRequest[];
  failNext(fault: MockFault): void;
  close(): Promise<void>;
};

export type MockModelServerOptions = {
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Pause between SSE events. Default 0. */
  deltaDelayMs?: number;
};

type WireApi = {
  parse(body: unknown): { ok: true; turn: MockTurn } | { ok: false; error: string };
  frames(reply: MockReply, n: number, usage: MockUsage): SseFrame[];
};

function api<S extends z.ZodType>(schema: S, toTurn: (body: z.infer<S>) => MockTurn, frames: WireApi["frames"]): WireApi {
  return {
    parse(body) {
      const parsed = schema.safeParse(body);
      return parsed.success ? { ok: true, turn: toTurn(parsed.data) } : { ok: false, error: z.prettifyError(parsed.error) };
    },
    frames,
  };
}

const APIS: Record<string, WireApi> = {
  "/v1/responses": api(ResponsesBody, responsesTurn, responsesFrames),
  "/v1/chat/completions": api(ChatBody, chatTurn, chatFrames),
};

const MODELS = { object: "list", data: [{ id: "mock-model", object: "model", created: 0, owned_by: "llmx" }] };

export async function startMockModelServer(options: MockModelServerOptions = {}): Promise<MockModelServer> {
  const requests: RecordedRequest[] = [];
  const faults: { fault: MockFault; remaining: number }[] = [];
  let served = 0;

  const takeFault = (): MockFault | undefined => {
    const next = faults[0];
    if (next === undefined) return undefined;
    next.remaining -= 1;
    if (next.remaining <= 0) faults.shift();
    return next.fault;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://mock").pathname;
    if (req.method === "GET" && path === "/v1/models") return sendJson(res, 200, MODELS);
    if (req.method !== "POST") return sendError(res, 404, `no route for ${req.method ?? "?"} ${path}`, "not_found");

    const raw = await readBody(req);
    const json = parseJson(raw);
    requests.push({ path: req.url ?? path, headers: req.headers, body: json.ok ? json.value : raw, remotePort: req.socket.remotePort });
    if (!json.ok) return sendError(res, 400, `request body is not valid JSON: ${json.error}`, "invalid_json");
    const wire = APIS[path];
    if (wire === undefined) return sendError(res, 404, `no route for POST ${path}`, "not_found");
    const parsed = wire.parse(json.value);
    if (!parsed.ok) return sendError(res, 400, `invalid request body: ${parsed.error}`, "invalid_request");

    served += 1;
    const { turn } = parsed;
    const fault = takeFault();
    if (fault !== undefined && "status" in fault) {
      const body = fault.body ?? { error: { message: `mock fault: HTTP ${fault.status}`, type: "mock_fault" } };
      return sendJson(res, fault.status, body, fault.headers);
    }
    if (turn.model === UNKNOWN_MODEL) {
      const message = `The model \`${turn.model}\` does not exist or you do not have access to it.`;
      return sendError(res, 404, message, "model_not_found");
    }
    if (turn.lastUserText.includes(UNAUTHORIZED_MARKER)) {
      return sendError(res, 401, "Incorrect API key provided", "invalid_api_key");
    }
    const reply = decideReply(turn, served);
    const slow = turn.lastUserText.includes(SLOW_MARKER);
    await writeSse(res, wire.frames(reply, served, estimateUsage(turn, reply)), {
      delayMs: slow ? SLOW_DELTA_DELAY_MS : (options.deltaDelayMs ?? 0),
      dropAfter: fault?.dropAfterEvents,
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) res.destroy();
      else sendError(res, 500, `mock server error: ${String(error)}`, "server_error");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;

  return {
    url: `http://${host}:${port}/v1`,
    port,
    requests,
    failNext(fault) {
      faults.push({ fault, remaining: Math.max(1, fault.times ?? 1) });
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
    req.on("close", () => reject(new Error("client closed the request before sending its body")));
  });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, message: string, code: string): void {
  sendJson(res, status, { error: { message, type: "invalid_request_error", param: null, code } });
}
