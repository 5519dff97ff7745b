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

export async function* readSse(body: ByteStream, idleTimeoutMs: number): AsyncGenerator<EventSourceMessage> {
  const chunks = readerOf(body);
  const decoder = new TextDecoder();
  const parsed: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => parsed.push(message) });
  let finished = false;
  try {
    for (;;) {
      const next = await nextWithin(chunks, idleTimeoutMs);
      parser.feed(next.done ? decoder.decode() : decoder.decode(next.value, { stream: true }));
      for (let i = 0; i < parsed.length; i++) yield parsed[i] as EventSourceMessage;
      parsed.length = 0;
      if (next.done) {
        finished = true;
        return;
      }
    }
  } finally {
    // Stopped early (the consumer is done, an error, a timeout): release the body, which ends its connection.
    if (!finished) chunks.release();
  }
}

type ChunkReader = { next(): Promise<IteratorResult<Uint8Array>>; release(): void };

/**
 * Reads a body chunk by chunk. Releasing must work while a read is pending (an idle timeout), which an async
 * iterator's `return()` does not do (it waits for that read): a Node stream is destroyed, a web stream's reader
 * cancelled.
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
  const iterator = body[Symbol.asyncIterator]();
  const node = body as { destroy?: () => void };
  return {
    next: () => iterator.next(),
    release: () => (typeof node.destroy === "function" ? node.destroy() : void Promise.resolve(iterator.return?.()).catch(() => undefined)),
  };
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
