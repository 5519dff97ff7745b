// Writes SSE frames to an HTTP response with an optional pause between them, stopping when the client goes
// away and, for the drop fault, destroying the socket after a given number of frames.
import type { ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

export type SseFrame = { event?: string; data: unknown };

export type SseWriteOptions = {
  delayMs: number;
  /** Destroy the connection after this many frames (mid-stream drop). */
  dropAfter?: number | undefined;
};

export async function writeSse(res: ServerResponse, frames: readonly SseFrame[], options: SseWriteOptions): Promise<void> {
  const gone = new AbortController();
  const onClose = (): void => gone.abort();
  res.on("close", onClose);
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.flushHeaders();
  try {
    for (const [index, frame] of frames.entries()) {
      if (options.dropAfter !== undefined && index >= options.dropAfter) {
        res.destroy();
        return;
      }
      if (index > 0 && options.delayMs > 0) await sleep(options.delayMs, undefined, { signal: gone.signal });
      if (gone.signal.aborted) return;
      await writeFrame(res, formatFrame(frame), gone.signal);
    }
    res.end();
  } catch (error) {
    if (!gone.signal.aborted) throw error;
  } finally {
    res.off("close", onClose);
  }
}

/** Resolves once the frame reaches the socket (so a drop that follows cannot discard it) or the client leaves. */
function writeFrame(res: ServerResponse, text: string, gone: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      gone.removeEventListener("abort", done);
      resolve();
    };
    gone.addEventListener("abort", done, { once: true });
    res.write(text, done);
  });
}

function formatFrame(frame: SseFrame): string {
  const data = typeof frame.data === "string" ? frame.data : JSON.stringify(frame.data);
  return `${frame.event === undefined ? "" : `event: ${frame.event}\n`}data: ${data}\n\n`;
}
