// Channel throughput: events per second through the real framed channel (msgpackr frames per event-loop turn,
// with the real boundary decoders) between the main thread and a worker, both ways, next to a raw baseline of
// one structured-clone postMessage per event over the same kind of port, in the same run.
// Usage: tsx bench/channel.ts [--quick] [--runs N]
import "./lib/launch.js";
import { MessageChannel, Worker } from "node:worker_threads";
import { createFramedPort, decodeFromWorker, type FromWorker, type ToWorker } from "../src/channel/index.js";
import { benchArgs, num, perSecond, printMachine, printTable, summarize } from "./lib/stats.js";

const args = benchArgs();
const runs = args.runs(args.quick ? 1 : 5);
const BATCH = 1024; // events handed to the channel per event-loop turn by the sender

// The worker side runs the compiled channel from dist/ (workers cannot load TypeScript). Bench scripts run with
// --input-type=module (see lib/launch.ts), which eval workers inherit: the source is an ES module.
const CHANNEL_URL = new URL("../dist/src/channel/index.js", import.meta.url).href;
const WORKER = `
import { parentPort } from "node:worker_threads";
const tick = () => new Promise((resolve) => setImmediate(resolve));
parentPort.once("message", async ({ port, framed, direction, count, text }) => {
  const { createFramedPort, decodeToWorker } = await import(${JSON.stringify(CHANNEL_URL)});
  if (direction === "in") {
    let seen = 0;
    const done = () => ++seen === count && parentPort.postMessage("done");
    if (framed) createFramedPort(port, { onMessage: done }, { decode: decodeToWorker });
    else port.on("message", done);
    parentPort.postMessage("ready");
  } else {
    const channel = framed ? createFramedPort(port, { onMessage() {} }, { decode: (v) => v }) : undefined;
    parentPort.postMessage("ready");
    await new Promise((resolve) => parentPort.once("message", resolve));
    for (let sent = 0; sent < count; ) {
      for (const end = Math.min(count, sent + ${BATCH}); sent < end; sent++) {
        const message = { type: "llmx/event", event: { id: String(sent), msg: { type: "agent_message_delta", delta: text } } };
        if (channel) channel.send(message); else port.postMessage(message);
      }
      await tick();
    }
  }
});
`;

const tick = () => new Promise((resolve) => setImmediate(resolve));
const submission = (i: number, text: string): ToWorker => ({
  type: "llmx/submission",
  submission: { id: String(i), op: { type: "user_input", items: [{ type: "text", text }] } },
});

const eventMessage = (i: number, delta: string): FromWorker => ({
  type: "llmx/event",
  event: { id: String(i), msg: { type: "agent_message_delta", delta } },
});

type Case = { direction: "in" | "out"; framed: boolean; count: number; text: string };

/** Events per second for one run of one case. */
async function run({ direction, framed, count, text }: Case): Promise<number> {
  const worker = new Worker(WORKER, { eval: true });
  const { port1, port2 } = new MessageChannel();
  const next = () => new Promise<unknown>((resolve) => worker.once("message", resolve));
  worker.postMessage({ port: port2, framed, direction, count, text }, [port2]);
  await next();
  let elapsed: number;
  if (direction === "in") {
    const channel = framed ? createFramedPort<FromWorker, ToWorker>(port1, { onMessage() {} }, { decode: decodeFromWorker }) : undefined;
    const done = next();
    const start = performance.now();
    for (let sent = 0; sent < count; ) {
      for (const end = Math.min(count, sent + BATCH); sent < end; sent++) {
        if (channel) channel.send(submission(sent, text));
        else port1.postMessage(submission(sent, text));
      }
      await tick();
    }
    await done;
    elapsed = performance.now() - start;
  } else {
    let seen = 0;
    let start = 0;
    const all = new Promise<void>((resolve) => {
      const one = () => ++seen === count && resolve();
      if (framed) createFramedPort<FromWorker, ToWorker>(port1, { onMessage: one }, { decode: decodeFromWorker });
      else port1.on("message", one);
    });
    start = performance.now();
    worker.postMessage("go");
    await all;
    elapsed = performance.now() - start;
  }
  port1.close();
  await worker.terminate();
  return count / (elapsed / 1000);
}

printMachine("channel");
const sizes = [
  { name: "small (~100 B)", text: "x".repeat(20), count: args.quick ? 5_000 : 500_000 },
  { name: "4 KiB", text: "x".repeat(4_000), count: args.quick ? 500 : 50_000 },
];
const rows: string[][] = [];
for (const size of sizes) {
  for (const direction of ["in", "out"] as const) {
    const bytes = JSON.stringify(direction === "in" ? submission(0, size.text) : eventMessage(0, size.text)).length;
    const rates: Record<string, number[]> = { framed: [], raw: [] };
    for (let r = 0; r < runs; r++) {
      for (const framed of [true, false]) rates[framed ? "framed" : "raw"]?.push(await run({ direction, framed, count: size.count, text: size.text }));
    }
    const framed = summarize(rates.framed ?? []);
    const raw = summarize(rates.raw ?? []);
    rows.push([
      `${size.name}, ${bytes} B as JSON`,
      direction === "in" ? "main -> worker" : "worker -> main",
      String(size.count),
      perSecond(framed.median),
      `${perSecond(framed.min)}..${perSecond(framed.max)}`,
      perSecond(raw.median),
      `${perSecond(raw.min)}..${perSecond(raw.max)}`,
      `${num(framed.median / raw.median)}x`,
      `${num((framed.median * bytes) / 2 ** 20)} MiB/s`,
    ]);
  }
}
printTable(`channel: events/s, median of ${runs} runs`, ["event", "direction", "events/run", "framed channel", "framed min..max", "raw postMessage", "raw min..max", "framed/raw", "framed payload"], rows);
