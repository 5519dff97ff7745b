// The request/stream retry loop shared by both wire APIs. Failures before the stream starts (429, 5xx,
// connection errors) spend the request budget; a stream that drops, idles (before its headers too) or fails
// retriably spends the stream budget. Each retry is announced with a `retrying` event and waits out a backoff.
import type { EventSourceMessage } from "eventsource-parser";
import { ModelStreamError, StreamInterruptedError } from "../errors.js";
import { backoffMs, classifyHttpFailure, type Sleep } from "./http.js";
import type { HttpFetch, HttpResponse } from "./node-http.js";
import type { ModelProviderInfo } from "./provider-info.js";
import { readSse, type ByteStream } from "./sse.js";
import type { ModelStreamEvent } from "./types.js";

export type StreamAttempt = {
  info: ModelProviderInfo;
  model: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  fetch: HttpFetch;
  sleep: Sleep;
  /**
   * Turns one attempt's SSE messages into events. It must return only once the response is complete and throw
   * `StreamInterruptedError` when the stream ends early or fails in a way worth retrying.
   */
  decode(messages: AsyncIterable<EventSourceMessage>): AsyncIterable<ModelStreamEvent>;
};

type Failure = { budget: "request" | "stream"; message: string; cause: unknown; retryAfterMs: number | undefined };

export async function* streamWithRetries(attempt: StreamAttempt, signal: AbortSignal): AsyncGenerator<ModelStreamEvent> {
  const { info } = attempt;
  const used = { request: 0, stream: 0 };
  const max = { request: info.requestMaxRetries, stream: info.streamMaxRetries };
  for (;;) {
    signal.throwIfAborted();
    const connection = new AbortController();
    let failure: Failure;
    let completed = false;
    try {
      const connected = await connect(attempt, AbortSignal.any([signal, connection.signal]));
      if ("failure" in connected) {
        failure = connected.failure;
      } else {
        // Each connected stream gets a fresh request budget for its own reconnects, as in Codex.
        used.request = 0;
        const messages = readSse(connected.body, info.streamIdleTimeoutMs);
        for await (const event of attempt.decode(messages)) {
          // The terminal event, accepted: the body's end may be read and its connection kept.
          if (event.type === "completed") messages.keepConnection();
          yield event;
        }
        completed = true;
        return;
      }
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (!(error instanceof StreamInterruptedError)) throw error;
      failure = { budget: "stream", message: error.message, cause: error, retryAfterMs: error.retryAfterMs };
    } finally {
      // A stream that ended as it should keeps its connection for the next request (readSse reads what is left
      // of its body); any other way out tears it down.
      if (!completed) connection.abort();
    }
    const { budget } = failure;
    used[budget] += 1;
    if (used[budget] > max[budget]) {
      const retries = max[budget] === 1 ? "1 retry" : `${max[budget]} retries`;
      throw new ModelStreamError(info.name, `${info.name}: giving up after ${retries}: ${failure.message}`, {
        cause: failure.cause,
      });
    }
    yield { type: "retrying", attempt: used[budget], max: max[budget], message: failure.message };
    await attempt.sleep(backoffMs(used[budget], failure.retryAfterMs), signal);
  }
}

/**
 * Sends the request: the body of a 2xx answer, a retryable failure, or a thrown typed error. Waiting for the
 * answer (headers, and the body of a failure) is bounded by the stream idle timeout: a server that accepts the
 * connection and then says nothing is a stalled stream, retried as one.
 */
async function connect(
  attempt: StreamAttempt,
  signal: AbortSignal,
): Promise<{ body: ByteStream } | { failure: Failure }> {
  const { info } = attempt;
  const ms = info.streamIdleTimeoutMs;
  const silence = new AbortController();
  const timer = setTimeout(
    () => silence.abort(new StreamInterruptedError(`stream idle for more than ${ms} ms waiting for ${info.name} to answer`)),
    ms,
  );
  try {
    let response: HttpResponse;
    try {
      response = await attempt.fetch(attempt.url, {
        method: "POST",
        headers: attempt.headers,
        body: attempt.body,
        signal: AbortSignal.any([signal, silence.signal]),
      });
    } catch (error) {
      if (signal.aborted) throw error;
      if (silence.signal.aborted) {
        const cause = silence.signal.reason as StreamInterruptedError;
        return { failure: { budget: "stream", message: cause.message, cause, retryAfterMs: undefined } };
      }
      const message = `request failed: ${describeNetworkError(error)}`;
      return { failure: { budget: "request", message, cause: error, retryAfterMs: undefined } };
    }
    if (response.ok && response.body !== null) return { body: response.body };
    const verdict = await classifyHttpFailure(response, info, attempt.model, hasAuthorization(attempt.headers));
    if (!verdict.retry) throw verdict.error;
    const cause = new Error(verdict.message);
    return { failure: { budget: "request", message: verdict.message, cause, retryAfterMs: verdict.retryAfterMs } };
  } finally {
    clearTimeout(timer);
  }
}

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
}

function hasAuthorization(headers: Record<string, string>): boolean {
  return Object.keys(headers).some((name) => name.toLowerCase() === "authorization");
}
