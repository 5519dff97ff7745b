// App-server transports: round-trip latency and one-way throughput of JSON-RPC-sized messages over the WebSocket
// transport and the control socket (line framing), and how many messages `send` accepts for a client that stopped
// reading before it refuses (the kernel's socket buffers, then OUTGOING_QUEUE_CAPACITY). Server and client share one process and event loop,
// so figures are a floor for what the transport costs, not a network measurement.
// Usage: tsx bench/app-server-transport.ts [--quick] [--runs N]
import "./lib/launch.js";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import type { Connection } from "../src/app-server/connection.js";
import { startControlSocket } from "../src/app-server/control-socket.js";
import { lineConnection } from "../src/app-server/line-connection.js";
import { listenWebSocket } from "../src/app-server/ws.js";
import { benchArgs, ms, num, perSecond, printMachine, printTable, summarize } from "./lib/stats.js";

const args = benchArgs();
const runs = args.runs(args.quick ? 1 : 3);
const TRIPS = args.quick ? 200 : 5_000;
const STREAM = args.quick ? 5_000 : 200_000;

/** A request the size of a small `turn/start`, a notification the size of an agent message delta. */
const request = (id: number) => JSON.stringify({ id, method: "turn/start", params: { threadId: "01a20000-0000-7000-8000-000000000001", input: [{ type: "text", text: "x".repeat(120) }] } });
const notification = (i: number) =>
  JSON.stringify({ method: "item/agentMessage/delta", params: { threadId: "01a20000-0000-7000-8000-000000000001", turnId: "1", itemId: `msg_${i}`, delta: "y".repeat(160) } });

/** The client side of one transport: send a text, get each received text, pause/resume reading, close. */
type Client = { send(text: string): void; onMessage(handler: (text: string) => void): void; pause(): void; resume(): void; close(): void };
type Transport = { name: string; open(): Promise<{ server: Connection; client: Client }>; stop(): Promise<void> };

async function webSocketTransport(): Promise<Transport> {
  let pending: ((connection: Connection) => void) | undefined;
  const listener = await listenWebSocket({ host: "127.0.0.1", port: 0, onConnection: (connection) => pending?.(connection) });
  return {
    name: "WebSocket",
    async open() {
      const serverSide = new Promise<Connection>((resolve) => (pending = resolve));
      const ws = new WebSocket(listener.url);
      await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
      const server = await serverSide;
      const client: Client = {
        send: (text) => ws.send(text),
        onMessage: (handler) => ws.on("message", (data: WebSocket.RawData) => handler(String(data))),
        pause: () => ws.pause(),
        resume: () => ws.resume(),
        close: () => ws.terminate(),
      };
      return { server, client };
    },
    stop: () => listener.close(),
  };
}

async function controlSocketTransport(): Promise<Transport> {
  const home = await mkdtemp(path.join(tmpdir(), "llmx-bench-"));
  let pending: ((connection: Connection) => void) | undefined;
  const control = await startControlSocket(home, (connection) => pending?.(connection));
  return {
    name: "control socket",
    async open() {
      const serverSide = new Promise<Connection>((resolve) => (pending = resolve));
      const socket = connect(control.socketPath);
      await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
      const line = lineConnection(socket, socket, "bench client");
      const server = await serverSide;
      const client: Client = {
        send: (text) => void line.send(text),
        onMessage: (handler) => line.onMessage(handler),
        pause: () => socket.pause(),
        resume: () => socket.resume(),
        close: () => socket.destroy(),
      };
      return { server, client };
    },
    async stop() {
      await control.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** Sequential request/response round trips through an echoing server; milliseconds per trip. */
async function roundTrips(transport: Transport): Promise<number[]> {
  const { server, client } = await transport.open();
  server.onMessage((text) => server.send(text));
  let answer: (() => void) | undefined;
  client.onMessage(() => answer?.());
  const times: number[] = [];
  for (let i = 0; i < TRIPS; i += 1) {
    const start = performance.now();
    await new Promise<void>((resolve) => {
      answer = resolve;
      client.send(request(i));
    });
    times.push(performance.now() - start);
  }
  client.close();
  return times;
}

/** Notifications per second from server to a reading client; a refused `send` waits a turn and retries. */
async function stream(transport: Transport): Promise<{ rate: number; refused: number }> {
  const { server, client } = await transport.open();
  let received = 0;
  const done = new Promise<void>((resolve) => client.onMessage(() => ++received === STREAM && resolve()));
  const texts = Array.from({ length: 256 }, (_, i) => notification(i));
  let refused = 0;
  const start = performance.now();
  for (let i = 0; i < STREAM; ) {
    if (server.send(texts[i % texts.length] as string)) i += 1;
    else {
      refused += 1;
      await new Promise(setImmediate);
    }
  }
  await done;
  const rate = STREAM / ((performance.now() - start) / 1000);
  client.close();
  return { rate, refused };
}

/** Messages accepted for a client that stopped reading before `send` refused. */
async function slowReader(transport: Transport): Promise<number> {
  const { server, client } = await transport.open();
  client.pause();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const text = notification(0);
  let accepted = 0;
  while (accepted < 1_000_000 && server.send(text)) accepted += 1;
  client.close();
  return accepted;
}

printMachine("app-server");
const rows: string[][] = [];
for (const make of [webSocketTransport, controlSocketTransport]) {
  const transport = await make();
  const trips: number[] = [];
  const rates: number[] = [];
  const refusals: number[] = [];
  const accepted: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    trips.push(...(await roundTrips(transport)));
    const streamed = await stream(transport);
    rates.push(streamed.rate);
    refusals.push(streamed.refused);
    accepted.push(await slowReader(transport));
  }
  await transport.stop();
  const trip = summarize(trips);
  rows.push([
    transport.name,
    `${trip.n}`,
    ms(trip.p50),
    ms(trip.p99),
    perSecond(summarize(rates).median),
    num(summarize(refusals).median),
    `${num(summarize(accepted).min)}..${num(summarize(accepted).max)}`,
  ]);
}
printTable(
  `app-server: ${runs} run(s); ${TRIPS} round trips (~250 B requests), ${STREAM} notifications (~250 B) per run`,
  ["transport", "trips", "round trip p50", "p99", "notifications (median)", "refused sends while streaming", "accepted for a paused client"],
  rows,
);
