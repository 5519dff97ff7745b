// Reads a response body as SSE messages. A body that errors (socket reset) or stays silent longer than the
// idle timeout becomes a `StreamInterruptedError`, which the retry loop treats as a dropped stream.
import { type EventSourceMessage, EventSourceParserStream } from "eventsource-parser/stream";
import { StreamInterruptedError } from "../errors.js";

export async function* readSse(body: ReadableStream<Uint8Array>, idleTimeoutMs: number): AsyncGenerator<EventSourceMessage> {
  const reader = body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  try {
    for (;;) {
      const next = await readWithin(reader, idleTimeoutMs);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

async function readWithin<T>(reader: ReadableStreamDefaultReader<T>, ms: number): ReturnType<ReadableStreamDefaultReader<T>["read"]> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StreamInterruptedError(`stream idle for more than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([reader.read(), idle]);
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
