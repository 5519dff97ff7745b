// The app-server's envelope: JSON-RPC 2.0 shapes without the "jsonrpc" member (Codex's "lite" variant; a
// "jsonrpc" member a client sends is accepted and ignored). Validated here, where the bytes enter.
import { z } from "zod";
import { AppServerRequestError } from "../index.js";

export const RequestId = z.union([z.string(), z.number().int()]);
export type RequestId = z.infer<typeof RequestId>;

const Request = z.object({ id: RequestId, method: z.string(), params: z.unknown().optional() });
const Notification = z.object({ method: z.string(), params: z.unknown().optional() });
const ResultResponse = z.object({ id: RequestId, result: z.unknown() });
const ErrorResponse = z.object({
  id: RequestId.nullable(),
  error: z.object({ code: z.number(), message: z.string(), data: z.unknown().optional() }),
});

export type Incoming =
  | { kind: "request"; id: RequestId; method: string; params: unknown }
  | { kind: "notification"; method: string; params: unknown }
  | { kind: "response"; id: RequestId; result: unknown }
  | { kind: "error"; id: RequestId | null; error: { code: number; message: string } }
  | { kind: "invalid"; id: RequestId | null; error: AppServerRequestError };

/** Codex's error codes (JSON-RPC's, plus -32001 for a server that cannot take more). */
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
export const OVERLOADED = -32001;
export const OVERLOADED_MESSAGE = "Server overloaded; retry later.";

/** One message text from a client, classified. Never throws. */
export function parseIncoming(text: string): Incoming {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { kind: "invalid", id: null, error: new AppServerRequestError(PARSE_ERROR, `Parse error: ${reason}`) };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { kind: "invalid", id: null, error: new AppServerRequestError(INVALID_REQUEST, "Invalid request: expected a JSON object") };
  }
  const has = (key: string) => Object.prototype.hasOwnProperty.call(value, key);
  if (has("method")) {
    if (has("id")) {
      const request = Request.safeParse(value);
      if (request.success) return { kind: "request", id: request.data.id, method: request.data.method, params: request.data.params };
    } else {
      const notification = Notification.safeParse(value);
      if (notification.success) return { kind: "notification", method: notification.data.method, params: notification.data.params };
    }
  } else if (has("result")) {
    const response = ResultResponse.safeParse(value);
    if (response.success) return { kind: "response", ...response.data };
  } else if (has("error")) {
    const response = ErrorResponse.safeParse(value);
    if (response.success) return { kind: "error", ...response.data };
  }
  const id = RequestId.safeParse((value as { id?: unknown }).id);
  return {
    kind: "invalid",
    id: id.success ? id.data : null,
    error: new AppServerRequestError(INVALID_REQUEST, "Invalid request: not a JSON-RPC request, notification or response"),
  };
}

export const responseText = (id: RequestId, result: unknown): string => JSON.stringify({ id, result });

export const errorText = (id: RequestId | null, code: number, message: string): string =>
  JSON.stringify({ error: { code, message }, id });

/** A notification as Codex writes it: with the time it was emitted. */
export const notificationText = (method: string, params: unknown, emittedAtMs: number): string =>
  JSON.stringify({ method, params, emittedAtMs });

export const serverRequestText = (id: number, method: string, params: unknown): string => JSON.stringify({ method, id, params });

/** The first problem zod found, naming the field: "`threadId`: expected string, received undefined". */
export function invalidParams(error: z.ZodError): AppServerRequestError {
  const issue = error.issues[0];
  const field = issue === undefined || issue.path.length === 0 ? "params" : issue.path.map(String).join(".");
  return new AppServerRequestError(INVALID_PARAMS, `Invalid params: \`${field}\`: ${issue?.message ?? "invalid"}`);
}
