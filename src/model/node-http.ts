// The model's HTTP client: node:http/https with one keep-alive agent per thread, behind the small slice of the
// fetch API the retry loop uses (status, headers, a body to iterate, text()). A worker thread's first
// request through the global fetch pays for starting undici in that thread; this costs no more than the
// request. Tests can still inject a fetch (HttpClientOptions.fetch): a WHATWG Response fits HttpResponse.
import http from "node:http";
import type https from "node:https";
import { requireBuiltin } from "../util/builtin.js";
import type { ByteStream } from "./sse.js";

export type HttpResponse = {
  ok: boolean;
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  /** Null only for answers without a body (204, 304). A fetch Response's ReadableStream fits. */
  body: ByteStream | null;
  text(): Promise<string>;
};

export type HttpRequestInit = { method: string; headers: Record<string, string>; body: string; signal: AbortSignal };

/** The request function the retry loop calls; the global fetch fits it. */
export type HttpFetch = (url: string, init: HttpRequestInit) => Promise<HttpResponse>;

// Module state is per thread: every conversation thread keeps its own connections alive.
let agents: { http: http.Agent; https?: https.Agent } | undefined;

/**
 * Connections are kept between requests, but not idle past 4 s: servers commonly close idle ones after 5 s
 * (Node's own default), and a request sent on a connection the server is closing fails with a reset.
 */
const AGENT_OPTIONS: http.AgentOptions = { keepAlive: true, timeout: 4_000 };

/** node:https (and with it TLS) loads only when a thread first talks to an https endpoint. */
let httpsModule: typeof https | undefined;

/**
 * POSTs with node:http(s). Aborting `init.signal` rejects with the signal's reason before the answer, and
 * afterwards errors the body stream with it, as fetch does.
 */
export const nodeFetch: HttpFetch = (url, init) =>
  new Promise((resolve, reject) => {
    const { signal } = init;
    if (signal.aborted) return reject(signal.reason as Error);
    const target = new URL(url);
    const secure = target.protocol === "https:";
    if (!secure && target.protocol !== "http:") return reject(new TypeError(`unsupported protocol ${target.protocol} in ${url}`));
    agents ??= { http: new http.Agent(AGENT_OPTIONS) };
    if (secure) {
      httpsModule ??= requireBuiltin<typeof https>("node:https");
      agents.https ??= new httpsModule.Agent(AGENT_OPTIONS);
    }
    const body = Buffer.from(init.body, "utf8");
    const request = (secure && httpsModule ? httpsModule : http).request(target, {
      method: init.method,
      headers: { ...init.headers, "content-length": String(body.length) },
      agent: secure ? agents.https : agents.http,
    });
    let answered: http.IncomingMessage | undefined;
    const onAbort = (): void => {
      const reason = signal.reason as Error;
      if (answered) answered.destroy(reason);
      else request.destroy(reason);
      reject(reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    // Errors after the answer arrived reach its body stream; this listener stays so that none goes unhandled.
    request.on("error", (error) => {
      signal.removeEventListener("abort", onAbort);
      reject(error);
    });
    request.once("response", (response) => {
      answered = response;
      response.once("close", () => signal.removeEventListener("abort", onAbort));
      resolve(toHttpResponse(response));
    });
    request.end(body);
  });

function toHttpResponse(response: http.IncomingMessage): HttpResponse {
  const status = response.statusCode ?? 0;
  const empty = status === 204 || status === 304;
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: response.statusMessage ?? "",
    headers: {
      get(name) {
        const value = response.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
      },
    },
    body: empty ? null : response,
    async text() {
      const chunks: Buffer[] = [];
      for await (const chunk of response) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
  };
}
