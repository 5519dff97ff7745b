// Reads a response body as SSE messages. A body that errors (socket reset) or stays silent longer than the
// idle timeout becomes a `StreamInterruptedError`, which the retry loop treats as a dropped stream.
//
// The body is any async iterable of bytes: node:http's response stream, or a WHATWG ReadableStream from an
// injected fetch. Bytes are decoded and parsed in place (eventsource-parser's callback parser), without web
// streams: a worker thread's first turn would otherwise load and compile Node's whole web-streams
// implementation (~5 ms of CPU per thread, BENCHMARKS.md section 1).
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { StreamInterruptedError } from "../errors.js";

/** A response body's bytes. */
export type ByteStream = AsyncIterable<Uint8Array>;

/** SSE messages, and a way for their consumer to say it had the stream's terminal event. */
export type SseMessages = AsyncGenerator<EventSourceMessage> & {
  /**
   * The stream ended as it should (its terminal event was read and accepted): if the consumer stops now, the rest
   * of the body is read to its end so that its connection can serve the next request. Without this call a body
   * left early is destroyed: a stream its consumer refused (a malformed event, say) may be in any state.
   */
  keepConnection(): void;
};

export function readSse(body: ByteStream, idleTimeoutMs: number, drainMs = DRAIN_MS): SseMessages {
  const state = { keep: false };
  const messages = read(body, idleTimeoutMs, drainMs, state) as SseMessages;
  messages.keepConnection = () => {
    state.keep = true;
  };
  return messages;
}

async function* read(body: ByteStream, idleTimeoutMs: number, drainMs: number, state: { keep: boolean }): AsyncGenerator<EventSourceMessage> {
  const chunks = readerOf(body);
  const decoder = new TextDecoder();
  const parsed: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => parsed.push(message) });
  let finished = false;
  let failed = false;
  try {
    for (;;) {
      const next = await nextWithin(chunks, idleTimeoutMs).catch((error: unknown) => {
        failed = true;
        throw error;
      });
      parser.feed(next.done ? decoder.decode() : decoder.decode(next.value, { stream: true }));
      for (let i = 0; i < parsed.length; i++) yield parsed[i] as EventSourceMessage;
      parsed.length = 0;
      if (next.done) {
        finished = true;
        return;
      }
    }
  } finally {
    // Stopped early. A body whose consumer had the terminal event is read to its end, so that its connection
    // serves the next request (bounded by DRAIN_MS and DRAIN_BYTES); any other (a read that failed, a consumer
    // that refused an event or was interrupted) is destroyed.
    if (!finished) chunks.release(state.keep && !failed ? "drain" : "destroy", drainMs);
  }
}

/**
 * How long a body the consumer left may take to end by itself before it is destroyed. A model server ends its
 * response right after the terminal event; kept alive, its connection saves the next request a connect (and a
 * TLS handshake).
 */
export const DRAIN_MS = 2_000;

type ChunkReader = { next(): Promise<IteratorResult<Uint8Array>>; release(how: "drain" | "destroy", drainMs: number): void };

type NodeBody = AsyncIterable<Uint8Array> & {
  iterator(options: { destroyOnReturn: boolean }): AsyncIterator<Uint8Array>;
  destroy(): void;
  read(): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: () => void): unknown;
  readableEnded: boolean;
  destroyed: boolean;
};

/**
 * Reads a body chunk by chunk. Releasing must work while a read is pending (an idle timeout), which an async
 * iterator's `return()` does not do (it waits for that read): a Node stream is destroyed (or drained), a web
 * stream's reader cancelled.
 */
function readerOf(body: ByteStream): ChunkReader {
  const web = body as Partial<ReadableStream<Uint8Array>>;
  if (typeof web.getReader === "function") {
    const reader = web.getReader();
    return {
      next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
      release: () => void reader.cancel().catch(() => undefined),
    };
  }
  const node = body as Partial<NodeBody>;
  if (typeof node.iterator === "function" && typeof node.destroy === "function") {
    const stream = node as NodeBody;
    const iterator = stream.iterator({ destroyOnReturn: false });
    return {
      next: () => iterator.next(),
      release: (how, drainMs) => {
        if (how === "destroy") return stream.destroy();
        // Drained only when no read is pending (the consumer left between reads), so return() settles at once.
        void Promise.resolve(iterator.return?.()).then(() => drain(stream, drainMs), () => stream.destroy());
      },
    };
  }
  const iterator = body[Symbol.asyncIterator]();
  const destroy = (body as { destroy?: () => void }).destroy;
  return {
    next: () => iterator.next(),
    release: (how) => {
      if (how === "destroy" && typeof destroy === "function") return destroy.call(body);
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
    },
  };
}

/** What a body left early may still send before it is destroyed: a server ends its response, it does not go on. */
const DRAIN_BYTES = 64 * 1024;

/**
 * Reads and drops what is left of `stream` until it ends; destroys it if that takes longer than `ms` or brings
 * more than DRAIN_BYTES.
 */
function drain(stream: NodeBody, ms: number): void {
  if (stream.readableEnded || stream.destroyed) return;
  const timer = setTimeout(() => stream.destroy(), ms);
  timer.unref();
  // A process (or thread) with nothing else to do need not wait for the drain.
  (stream as { socket?: { unref?(): void } | null }).socket?.unref?.();
  const done = (): void => clearTimeout(timer);
  stream.once("end", done);
  stream.once("close", done);
  stream.on("error", () => undefined);
  let left = DRAIN_BYTES;
  stream.on("readable", () => {
    for (let chunk = stream.read(); chunk !== null; chunk = stream.read()) {
      left -= (chunk as Uint8Array).length;
      if (left < 0) return stream.destroy();
    }
  });
}

async function nextWithin(chunks: ChunkReader, ms: number): Promise<IteratorResult<Uint8Array>> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StreamInterruptedError(`stream idle for more than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([chunks.next(), idle]);
  } catch (error) {
    if (error instanceof StreamInterruptedError) throw error;
    throw new StreamInterruptedError(`stream disconnected: ${describe(error)}`, undefined, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
  return `${error.message}${cause}`;
}
