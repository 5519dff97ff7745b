// A ModelClient over one wire API: reads the API key, posts the wire's body and retries through
// streamWithRetries. The wire supplies only its path, body and stream decoder.
import type { EventSourceMessage } from "eventsource-parser";
import { knownContextWindow } from "./context-window.js";
import { type HttpClientOptions, realSleep, requestHeaders } from "./http.js";
import { nodeFetch } from "./node-http.js";
import type { ModelProviderInfo } from "./provider-info.js";
import { streamWithRetries } from "./retry.js";
import type { ModelClient, ModelRequest, ModelStreamEvent } from "./types.js";

export type WireProtocol = {
  /** Appended to the provider's base URL, e.g. `/responses`. */
  path: string;
  body(request: ModelRequest): unknown;
  decode(messages: AsyncIterable<EventSourceMessage>): AsyncIterable<ModelStreamEvent>;
};

export function createWireClient(info: ModelProviderInfo, options: HttpClientOptions, wire: WireProtocol): ModelClient {
  const env = options.env ?? process.env;
  const url = `${info.baseUrl.replace(/\/+$/, "")}${wire.path}`;
  return {
    contextWindow: knownContextWindow,
    async *stream(request, signal) {
      signal.throwIfAborted();
      const attempt = {
        info,
        model: request.model,
        url,
        headers: requestHeaders(info, env),
        body: JSON.stringify(wire.body(request)),
        fetch: options.fetch ?? nodeFetch,
        sleep: options.sleep ?? realSleep,
        decode: (messages: AsyncIterable<EventSourceMessage>) => wire.decode(messages),
      };
      yield* streamWithRetries(attempt, signal);
    },
  };
}
