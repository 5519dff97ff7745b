// HTTP plumbing shared by the wire APIs: request headers (API key), classifying a failed answer into a typed
// error or a retry, Retry-After, and the backoff schedule.
import {
  MissingApiKeyError,
  ModelAuthError,
  type ModelProviderError,
  ModelNotFoundError,
  ModelRequestError,
} from "../errors.js";
import { nullish, object, string, stringOrNumber } from "../protocol/checks.js";
import type { HttpFetch, HttpResponse } from "./node-http.js";
import type { ModelProviderInfo } from "./provider-info.js";

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export type HttpClientOptions = {
  /** The request function; node:http(s) with a keep-alive agent per thread by default (see node-http.ts). */
  fetch?: HttpFetch;
  env?: NodeJS.ProcessEnv;
  /** Waits between retries; must reject promptly (with the signal's reason) when `signal` aborts. */
  sleep?: Sleep;
};

export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });

/** Headers for every request; throws before any network traffic when the configured key is missing. */
export function requestHeaders(info: ModelProviderInfo, env: NodeJS.ProcessEnv): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "text/event-stream",
    ...info.httpHeaders,
  };
  if (info.envKey !== undefined) {
    const key = env[info.envKey]?.trim();
    if (!key) throw new MissingApiKeyError(info.name, info.envKey);
    headers.authorization = `Bearer ${key}`;
  }
  return headers;
}

/** What to do about a non-2xx answer. */
export type HttpFailure =
  | { retry: true; message: string; retryAfterMs: number | undefined }
  | { retry: false; error: ModelProviderError };


export async function classifyHttpFailure(
  response: HttpResponse,
  info: ModelProviderInfo,
  model: string,
  keySent: boolean,
): Promise<HttpFailure> {
  const text = await response.text().catch(() => "");
  const { message, code } = serverError(text, response);
  const { status } = response;
  if (status === 401 || status === 403) return { retry: false, error: new ModelAuthError(info.name, status, message, keySent) };
  if (status === 404 || code === "model_not_found") {
    return { retry: false, error: new ModelNotFoundError(info.name, model, message) };
  }
  if (status === 429 && code === "insufficient_quota") {
    return { retry: false, error: new ModelRequestError(info.name, status, message) };
  }
  if (status === 429 || status >= 500) {
    return { retry: true, message: `HTTP ${status}: ${message}`, retryAfterMs: retryAfterMs(response.headers) };
  }
  return { retry: false, error: new ModelRequestError(info.name, status, message) };
}

function serverError(text: string, response: HttpResponse): { message: string; code: string | undefined } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const fallback = text.trim().slice(0, 500) || response.statusText || "no details";
  const error = errorFields(json);
  if (error === undefined) return { message: fallback, code: undefined };
  const { message, code, type } = error;
  return { message: message || fallback, code: code == null ? (type ?? undefined) : String(code) };
}

type ErrorFields = { message: string | null | undefined; code: string | number | null | undefined; type: string | null | undefined };

/** `{"error": {"message", "code", "type"}}`, as OpenAI-style servers answer; undefined for any other body. */
function errorFields(json: unknown): ErrorFields | undefined {
  try {
    const error = object(object(json, "").error, "error");
    return {
      message: nullish(error.message, "error.message", string),
      code: nullish(error.code, "error.code", stringOrNumber),
      type: nullish(error.type, "error.type", string),
    };
  } catch {
    return undefined; // a ShapeError: the body is shown as text
  }
}

/** `retry-after-ms`, else `retry-after` in seconds; HTTP-date values are ignored (no clock here). */
export function retryAfterMs(headers: HttpResponse["headers"]): number | undefined {
  const ms = Number(headers.get("retry-after-ms") ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const seconds = Number(headers.get("retry-after") ?? NaN);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 30_000;
const RETRY_AFTER_CAP_MS = 120_000;

/** Delay before retry number `attempt` (from 1): the server's hint when given, else 200 ms doubling, ±10 %. */
export function backoffMs(attempt: number, hintMs?: number, random: () => number = Math.random): number {
  if (hintMs !== undefined) return Math.min(hintMs, RETRY_AFTER_CAP_MS);
  const exponential = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return Math.round(exponential * (0.9 + random() * 0.2));
}
