// The SSE reader under the model clients: any async iterable of bytes in, messages out, bounded by an idle
// timeout, and a body left early is released.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { StreamInterruptedError } from "../src/errors.js";
import { nodeFetch } from "../src/model/node-http.js";
import { readSse } from "../src/model/sse.js";

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * A body of two messages and more to come, whose reader takes the first and stops there, saying it had the
 * stream's terminal event (`keep`) or not.
 */
async function leftAfterFirst(drainMs: number, keep: boolean): Promise<Readable> {
  const body = new Readable({ read() {} });
  body.push(Buffer.from("data: one\n\ndata: two\n\n"));
  const messages = readSse(body, 1_000, drainMs);
  for await (const message of messages) {
    expect(message.data).toBe("one");
    if (keep) messages.keepConnection();
    break;
  }
  return body;
}

describe("readSse", () => {
  it("parses events split anywhere, a multi-byte character across chunks included, from a Node stream or a web stream", async () => {
    const text = 'event: a\r\ndata: {"x":"héllo ✓"}\r\n\r\n: comment\n\ndata: line1\ndata: line2\n\n';
    const bytes = Buffer.from(text, "utf8");
    // Every cut point, so the two-byte é and three-byte ✓ are split between chunks too.
    for (let cut = 1; cut < bytes.length; cut++) {
      const chunks = [bytes.subarray(0, cut), bytes.subarray(cut)];
      const expected = [
        { event: "a", data: '{"x":"héllo ✓"}' },
        { data: "line1\nline2" },
      ];
      const fromNode = await collect(readSse(Readable.from(chunks), 1_000));
      expect(fromNode.map(({ event, data }) => (event === undefined ? { data } : { event, data }))).toEqual(expected);
    }
    const web = new Response(bytes).body as unknown as AsyncIterable<Uint8Array>;
    expect((await collect(readSse(web, 1_000))).map((message) => message.data)).toEqual(['{"x":"héllo ✓"}', "line1\nline2"]);
  });

  it("a body that stays silent past the idle timeout is a StreamInterruptedError", async () => {
    const silent = new Readable({ read() {} });
    silent.push(Buffer.from("data: first\n\n"));
    const messages = readSse(silent, 50);
    expect((await messages.next()).value).toMatchObject({ data: "first" });
    await expect(messages.next()).rejects.toThrow(StreamInterruptedError);
    await expect.poll(() => silent.destroyed).toBe(true);
  });

  it("a silent web stream (an injected fetch's body) is cancelled at the idle timeout", async () => {
    let cancelled = false;
    const web = new ReadableStream<Uint8Array>({
      start: (controller) => controller.enqueue(new TextEncoder().encode("data: first\n\n")),
      cancel: () => {
        cancelled = true;
      },
    });
    const messages = readSse(web as unknown as AsyncIterable<Uint8Array>, 50);
    expect((await messages.next()).value).toMatchObject({ data: "first" });
    await expect(messages.next()).rejects.toThrow(StreamInterruptedError);
    await expect.poll(() => cancelled).toBe(true);
  });

  it("a body that errors is a StreamInterruptedError naming the cause", async () => {
    const broken = new Readable({ read() {} });
    broken.push(Buffer.from("data: first\n\n"));
    const messages = readSse(broken, 1_000);
    expect((await messages.next()).value).toMatchObject({ data: "first" });
    setImmediate(() => broken.destroy(new Error("socket hang up")));
    await expect(messages.next()).rejects.toThrow(/stream disconnected: socket hang up/);
  });

  it("a reader that stops early without keeping the connection destroys the body", async () => {
    const refused = await leftAfterFirst(5_000, false);
    await expect.poll(() => refused.destroyed).toBe(true);
    expect(refused.readableEnded).toBe(false);
  });

  it("a reader that stops early after keepConnection() leaves the body to be read to its end, not destroyed", async () => {
    const rest = await leftAfterFirst(5_000, true);
    rest.push(Buffer.from("data: three\n\n"));
    rest.push(null);
    // Ended, not destroyed first (a destroyed stream never ends).
    await expect.poll(() => rest.readableEnded).toBe(true);
  });

  it("a body left early that does not end within the drain time is destroyed", async () => {
    const endless = await leftAfterFirst(50, true);
    const feed = setInterval(() => endless.push(Buffer.from("data: more\n\n")), 5);
    try {
      await expect.poll(() => endless.destroyed).toBe(true);
    } finally {
      clearInterval(feed);
    }
  });

  it("a body left early that goes on sending (more than 64 KiB) is destroyed before the drain time is up", async () => {
    const flood = await leftAfterFirst(60_000, true);
    for (let i = 0; i < 20 && !flood.destroyed; i++) {
      flood.push(Buffer.alloc(8 * 1024, 0x61));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await expect.poll(() => flood.destroyed).toBe(true);
  });

  it("over node:http, requests one after another share one keep-alive connection when each stream was left at its terminal event", async () => {
    let connections = 0;
    const server = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write("data: done\n\n");
      setTimeout(() => response.end("data: after\n\n"), 5);
    });
    server.on("connection", () => (connections += 1));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (let i = 0; i < 3; i++) {
        const response = await nodeFetch(`http://127.0.0.1:${port}/v1/responses`, { method: "POST", headers: {}, body: "{}", signal: new AbortController().signal });
        const messages = readSse(response.body as AsyncIterable<Uint8Array>, 1_000);
        for await (const message of messages) {
          expect(message.data).toBe("done");
          messages.keepConnection();
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      expect(connections).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
