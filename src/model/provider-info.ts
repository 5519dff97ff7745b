// How to reach a model server: Codex's `[model_providers.<id>]` table, resolved. Plain data (crosses threads).

export type WireApi = "responses" | "chat";

export type ModelProviderInfo = {
  /** The provider id (`openai`, `ollama`, `mock`, ...). */
  id: string;
  name: string;
  /** e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`; `/responses` or `/chat/completions` is appended. */
  baseUrl: string;
  wireApi: WireApi;
  /** Environment variable holding the API key (read inside the worker); no key is sent when unset. */
  envKey?: string;
  /** Extra HTTP headers sent with every request. */
  httpHeaders?: Record<string, string>;
  /** Retries of a request that failed before streaming (429, 5xx, connection errors). Codex default 4. */
  requestMaxRetries: number;
  /** Reconnections of a stream that dropped or went idle. Codex default 5. */
  streamMaxRetries: number;
  /** A stream with no event for this long counts as dropped. Codex default 300,000 ms. */
  streamIdleTimeoutMs: number;
};

export const DEFAULT_REQUEST_MAX_RETRIES = 4;
export const DEFAULT_STREAM_MAX_RETRIES = 5;
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;

/** The providers known without any configuration, as in Codex (plus the offline one). */
export const BUILT_IN_PROVIDERS: Record<string, Omit<ModelProviderInfo, "requestMaxRetries" | "streamMaxRetries" | "streamIdleTimeoutMs">> = {
  openai: { id: "openai", name: "OpenAI", baseUrl: "https://api.openai.com/v1", wireApi: "responses", envKey: "OPENAI_API_KEY" },
  ollama: { id: "ollama", name: "Ollama", baseUrl: "http://localhost:11434/v1", wireApi: "chat" },
  lmstudio: { id: "lmstudio", name: "LM Studio", baseUrl: "http://localhost:1234/v1", wireApi: "responses" },
};
