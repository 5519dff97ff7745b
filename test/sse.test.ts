// The SSE reader under the model clients: any async iterable of bytes in, messages out, bounded by an idle
// timeout, and a body left early is released.
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { StreamInterruptedError } from "../src/errors.js";
import { readSse } from "../src/model/sse.js";

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
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

  it("a reader that stops early releases the body", async () => {
    const endless = new Readable({ read() {} });
    endless.push(Buffer.from("data: one\n\ndata: two\n\n"));
    for await (const message of readSse(endless, 1_000)) {
      expect(message.data).toBe("one");
      break;
    }
    await expect.poll(() => endless.destroyed).toBe(true);
  });
});
