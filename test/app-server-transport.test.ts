// The app-server's transports over real sockets: the WebSocket listener (messages, health probes, tokens, Origin,
// frame limits, a client that stops reading), the line framing, and the control socket with its host file, in
// this process and in child processes that exit or are signalled. A stand-in handler echoes what it receives.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { chown, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { OUTGOING_QUEUE_CAPACITY, type Connection } from "../src/app-server/connection.js";
import { findHosts, startControlSocket, type ControlSocket } from "../src/app-server/control-socket.js";
import { lineConnection } from "../src/app-server/line-connection.js";
import { CLOSE_UNSUPPORTED_DATA, isLoopbackHost, listenWebSocket, type WebSocketListener } from "../src/app-server/ws.js";
import { ControlSocketError, InsecureListenError, InvalidConfigError } from "../src/errors.js";
import { FIXTURES } from "./helpers.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempHome(): Promise<string> {
  // Short: a unix socket path must fit in 107 bytes.
  const dir = await mkdtemp(path.join(tmpdir(), "llmx-as-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const echo = (connection: Connection): void => connection.onMessage((text) => connection.send(text));

/** A loopback listener whose connections are echoed; `connections` yields the server side of each. */
async function listen(options: Partial<Parameters<typeof listenWebSocket>[0]> = {}) {
  const connections: Connection[] = [];
  const listener: WebSocketListener = await listenWebSocket({
    host: "127.0.0.1",
    port: 0,
    onConnection: (connection) => {
      connections.push(connection);
      echo(connection);
    },
    ...options,
  });
  cleanups.push(() => listener.close());
  return { listener, connections, port: Number(new URL(listener.url).port) };
}

/** Opens a client; resolves when it is open, rejects with the HTTP status when the upgrade is refused. */
async function client(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  cleanups.push(async () => {
    ws.terminate();
  });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_request, response) => reject(new Error(`refused: ${response.statusCode}`)));
    ws.once("error", reject);
  });
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once("message", (data: WebSocket.RawData) => resolve(String(data))));
}

function closeCode(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once("close", (code: number) => resolve(code)));
}

describe("WebSocket transport", () => {
  test("one JSON-RPC message per text frame, both ways", async () => {
    const { listener, connections } = await listen();
    expect(listener.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const ws = await client(listener.url);
    const request = JSON.stringify({ id: 1, method: "initialize", params: { clientInfo: { name: "t" } } });
    const reply = nextMessage(ws);
    ws.send(request);
    expect(await reply).toBe(request);
    expect(connections[0]?.label).toMatch(/^ws 127\.0\.0\.1:\d+$/);
  });

  test("the server's close reaches the client, and the client's close reaches the server", async () => {
    const { listener, connections } = await listen();
    const ws = await client(listener.url);
    const first = connections[0];
    const closedCode = closeCode(ws);
    first?.close();
    expect(await closedCode).toBe(1000);

    const other = await client(listener.url);
    const second = connections[1];
    const serverSaw = new Promise<void>((resolve) => second?.onClose(resolve));
    other.close();
    await serverSaw;
    expect(second?.send("{}")).toBe(false);
  });

  test("/healthz answers 200 while the process lives; /readyz follows readiness; other paths are 404", async () => {
    let ready = false;
    const { port } = await listen({ readiness: () => ready });
    const get = async (pathname: string) => (await fetch(`http://127.0.0.1:${port}${pathname}`)).status;
    expect(await get("/healthz")).toBe(200);
    expect(await get("/readyz")).toBe(503);
    ready = true;
    expect(await get("/readyz")).toBe(200);
    expect(await get("/")).toBe(404);
    expect(await get("/metrics")).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`, { method: "POST" })).status).toBe(405);
  });

  test("a non-loopback address without a token is refused before listening, with a typed error", async () => {
    const attempt = listenWebSocket({ host: "0.0.0.0", port: 0, onConnection: echo });
    await expect(attempt).rejects.toBeInstanceOf(InsecureListenError);
    await expect(attempt).rejects.toMatchObject({ code: "insecure_listen", host: "0.0.0.0" });
    await expect(listenWebSocket({ host: "127.0.0.1", port: 0, token: " ", onConnection: echo })).rejects.toBeInstanceOf(
      InvalidConfigError,
    );
  });

  test("loopback is 127.0.0.0/8, ::1 and localhost; anything else is not", () => {
    expect(["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"].map(isLoopbackHost)).toEqual(
      Array(6).fill(true),
    );
    expect(["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", "localhost.example.com"].map(isLoopbackHost)).toEqual(
      Array(6).fill(false),
    );
  });

  test("with a token (here on 0.0.0.0), an upgrade without it or with a wrong one is refused with 401", async () => {
    const { port } = await listen({ host: "0.0.0.0", token: "s3cret-token" });
    const url = `ws://127.0.0.1:${port}`;
    await expect(client(url)).rejects.toThrow("refused: 401");
    await expect(client(url, { headers: { Authorization: "Bearer wrong-token" } })).rejects.toThrow("refused: 401");
    await expect(client(url, { headers: { Authorization: "Bearer s3cret-token-and-more" } })).rejects.toThrow("refused: 401");
    await expect(client(url, { headers: { Authorization: "Basic s3cret-token" } })).rejects.toThrow("refused: 401");
    // The query string is not a way to pass it (as in Codex): it would end up in logs.
    await expect(client(`${url}/?token=s3cret-token`)).rejects.toThrow("refused: 401");
    const ws = await client(url, { headers: { Authorization: "Bearer s3cret-token" } });
    const reply = nextMessage(ws);
    ws.send('{"id":1,"method":"x"}');
    expect(await reply).toBe('{"id":1,"method":"x"}');
  });

  test("without a token, a browser Origin that is not loopback is refused (403); loopback origins are accepted", async () => {
    const { listener } = await listen();
    await expect(client(listener.url, { origin: "https://evil.example" })).rejects.toThrow("refused: 403");
    await expect(client(listener.url, { origin: "null" })).rejects.toThrow("refused: 403");
    await expect(client(listener.url, { origin: "http://127.0.0.1.evil.example" })).rejects.toThrow("refused: 403");
    await client(listener.url, { origin: "http://localhost:5173" });
    await client(listener.url, { origin: "http://127.0.0.1:8080" });
    await client(listener.url);
  });

  test("with a token, the token decides, whatever the Origin", async () => {
    const { listener } = await listen({ token: "t0ken" });
    await expect(client(listener.url, { origin: "https://evil.example" })).rejects.toThrow("refused: 401");
    await client(listener.url, { origin: "https://app.example", headers: { Authorization: "Bearer t0ken" } });
  });

  test("a frame over the size limit closes the connection with 1009; a binary frame with 1003", async () => {
    const { listener, connections } = await listen({ maxMessageBytes: 1_024 });
    const big = await client(listener.url);
    const bigClosed = closeCode(big);
    big.send(JSON.stringify({ id: 1, method: "x", params: { text: "y".repeat(2_000) } }));
    expect(await bigClosed).toBe(1009);

    const binary = await client(listener.url);
    const received: string[] = [];
    connections[1]?.onMessage((text) => received.push(text));
    const binaryClosed = closeCode(binary);
    binary.send(Buffer.from('{"id":1,"method":"x"}'), { binary: true });
    expect(await binaryClosed).toBe(CLOSE_UNSUPPORTED_DATA);
    expect(received).toEqual([]);
  });

  test("a client that stops answering pings is cut off; one that answers stays", async () => {
    const { listener, connections } = await listen({ pingIntervalMs: 50 });
    const silent = await client(listener.url);
    const alive = await client(listener.url);
    const serverSaw = new Promise<void>((resolve) => connections[0]?.onClose(resolve));
    const silentClosed = closeCode(silent);
    // A paused client reads nothing, so it answers no ping (as a peer that vanished without closing).
    silent.pause();
    await serverSaw;
    silent.resume();
    expect(await silentClosed).toBe(1006);
    const reply = nextMessage(alive);
    alive.send('{"id":1,"method":"x"}');
    expect(await reply).toBe('{"id":1,"method":"x"}');
    expect(alive.readyState).toBe(WebSocket.OPEN);
  });

  test("a client that stops reading makes send return false instead of queueing without bound", async () => {
    const { listener, connections } = await listen();
    const ws = await client(listener.url);
    const server = connections[0] as Connection;
    let received = 0;
    let last = "";
    ws.on("message", (data: WebSocket.RawData) => {
      received += 1;
      last = String(data);
    });
    ws.pause();
    const padding = "x".repeat(1_024);
    let accepted = 0;
    // Bounded: the kernel's socket buffers take a few megabytes, then at most OUTGOING_QUEUE_CAPACITY wait here.
    for (let i = 0; i < 100_000; i += 1) {
      if (!server.send(JSON.stringify({ method: "n", params: { i, padding } }))) break;
      accepted += 1;
    }
    expect(accepted).toBeLessThan(100_000);
    expect(server.send("{}")).toBe(false);

    // What was accepted is delivered, in order, once the client reads again; what was refused never is.
    ws.resume();
    await expect.poll(() => received, { timeout: 20_000 }).toBe(accepted);
    expect(JSON.parse(last)).toMatchObject({ params: { i: accepted - 1 } });
    expect(server.send("{}")).toBe(true);
  });
});

describe("line framing", () => {
  function pair(options: Parameters<typeof lineConnection>[3] = {}) {
    const incoming = new PassThrough();
    const outgoing = new PassThrough();
    const connection = lineConnection(incoming, outgoing, "test", options);
    const messages: string[] = [];
    connection.onMessage((text) => messages.push(text));
    return { incoming, outgoing, connection, messages };
  }

  test("partial lines wait for their end; blank lines and CRs are dropped; send writes one line per message", async () => {
    const { incoming, outgoing, connection, messages } = pair();
    incoming.write('{"id":1,');
    incoming.write('"method":"a"}\n\n{"id":2,"me');
    await new Promise(setImmediate);
    expect(messages).toEqual(['{"id":1,"method":"a"}']);
    incoming.write('thod":"é"}\r\n');
    await new Promise(setImmediate);
    expect(messages).toEqual(['{"id":1,"method":"a"}', '{"id":2,"method":"é"}']);

    expect(connection.send('{"id":1,"result":{}}')).toBe(true);
    expect(connection.send('{\n"id":2}')).toBe(true);
    expect(String(outgoing.read())).toBe('{"id":1,"result":{}}\n{ "id":2}\n');
  });

  test("a multi-byte character split across chunks arrives whole", async () => {
    const { incoming, messages } = pair();
    const bytes = Buffer.from('{"text":"日本"}\n');
    incoming.write(bytes.subarray(0, 11));
    incoming.write(bytes.subarray(11));
    await new Promise(setImmediate);
    expect(messages).toEqual(['{"text":"日本"}']);
  });

  test("a line over the limit closes the connection, with or without its newline", async () => {
    for (const line of ["x".repeat(100), `${"x".repeat(100)}\n`]) {
      const errors: string[] = [];
      const { incoming, connection, messages } = pair({ maxLineBytes: 64, onProtocolError: (reason) => errors.push(reason) });
      const closed = new Promise<void>((resolve) => connection.onClose(resolve));
      incoming.write('{"id":1}\n');
      incoming.write(line);
      await closed;
      expect(messages).toEqual(['{"id":1}']);
      expect(errors).toEqual(["a line longer than 64 bytes"]);
      expect(connection.send("{}")).toBe(false);
    }
  });

  test("a peer that stops reading makes send return false; what was accepted is all there, in order", async () => {
    const { outgoing, connection } = pair();
    let accepted = 0;
    for (let i = 0; i < 10_000; i += 1) {
      if (!connection.send(JSON.stringify({ i }))) break;
      accepted += 1;
    }
    expect(accepted).toBeGreaterThanOrEqual(OUTGOING_QUEUE_CAPACITY);
    expect(accepted).toBeLessThan(10_000);
    const lines: string[] = [];
    outgoing.setEncoding("utf8");
    let text = "";
    outgoing.on("data", (chunk: string) => (text += chunk));
    await expect.poll(() => text.split("\n").length - 1).toBe(accepted);
    lines.push(...text.trimEnd().split("\n"));
    expect(lines.map((line) => (JSON.parse(line) as { i: number }).i)).toEqual([...Array(accepted).keys()]);
  });

  test("close() flushes what is queued, ends the output, and reports the close once", async () => {
    const { outgoing, connection } = pair();
    let closes = 0;
    connection.onClose(() => (closes += 1));
    outgoing.setEncoding("utf8");
    let text = "";
    outgoing.on("data", (chunk: string) => (text += chunk));
    const ended = once(outgoing, "end");
    connection.send('{"id":1,"result":{}}');
    connection.send('{"method":"bye"}');
    connection.close();
    connection.close();
    expect(connection.send('{"late":true}')).toBe(false);
    await ended;
    expect(text).toBe('{"id":1,"result":{}}\n{"method":"bye"}\n');
    await expect.poll(() => closes).toBe(1);
  });

  test("the end of the input closes the connection once, after a last line without its newline", async () => {
    const { incoming, connection, messages } = pair();
    let closes = 0;
    connection.onClose(() => (closes += 1));
    incoming.end('{"id":9}');
    await expect.poll(() => closes).toBe(1);
    expect(messages).toEqual(['{"id":9}']);
  });
});

describe("control socket and host file", () => {
  async function start(home: string, onConnection: (connection: Connection) => void = echo): Promise<ControlSocket> {
    const control = await startControlSocket(home, onConnection, { listen: "ws://127.0.0.1:4500" });
    cleanups.push(() => control.close());
    return control;
  }

  test("a private socket speaking one JSON message per line, and a host file naming it", async () => {
    const home = await tempHome();
    const control = await start(home);
    const dir = path.join(home, "app-server");
    expect(control.socketPath).toBe(path.join(dir, `${process.pid}.sock`));
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(control.socketPath)).mode & 0o777).toBe(0o600);
    expect((await stat(control.hostFilePath)).mode & 0o777).toBe(0o600);
    const hostFile = JSON.parse(await readFile(control.hostFilePath, "utf8")) as unknown;
    expect(hostFile).toEqual({
      pid: process.pid,
      startedAt: expect.any(Number),
      socket: control.socketPath,
      listen: "ws://127.0.0.1:4500",
      version: expect.any(String),
    });
    expect(await findHosts(home)).toEqual([hostFile]);

    const socket = connect(control.socketPath);
    cleanups.push(async () => socket.destroy());
    socket.setEncoding("utf8");
    let received = "";
    socket.on("data", (chunk: string) => (received += chunk));
    socket.write('{"id":1,"method":"initialize"}\n{"id":2,');
    socket.write('"method":"llmx/supervision/list"}\n');
    await expect.poll(() => received).toBe('{"id":1,"method":"initialize"}\n{"id":2,"method":"llmx/supervision/list"}\n');

    await control.close();
    expect(existsSync(control.socketPath)).toBe(false);
    expect(existsSync(control.hostFilePath)).toBe(false);
    expect(await findHosts(home)).toEqual([]);
  });

  test("one control socket per home per process: a second one is refused, not clobbered", async () => {
    const home = await tempHome();
    const control = await start(home);
    await expect(startControlSocket(home, echo)).rejects.toBeInstanceOf(ControlSocketError);
    expect(existsSync(control.socketPath)).toBe(true);
    await control.close();
    await start(home);
  });

  // Root can hand the directory to another user; anyone else cannot make one that is not theirs.
  test.runIf(process.getuid?.() === 0)("an app-server directory made by another user is refused, not used", async () => {
    const home = await tempHome();
    const dir = path.join(home, "app-server");
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, 65534, 65534);
    const error = await startControlSocket(home, echo).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ControlSocketError);
    expect((error as Error).message).toContain("belongs to another user (uid 65534)");
    expect(await readdir(dir)).toEqual([]);
  });

  test("no app-server directory means no hosts", async () => {
    expect(await findHosts(await tempHome())).toEqual([]);
  });

  test("files of dead pids are ignored and removed; malformed files of live pids are skipped and kept", async () => {
    const home = await tempHome();
    const dir = path.join(home, "app-server");
    const dead = spawn("true");
    await once(dead, "exit");
    const deadPid = dead.pid as number;
    const live = spawn("sleep", ["30"], { stdio: "ignore" });
    cleanups.push(async () => live.kill("SIGKILL"));
    await once(live, "spawn");
    const control = await start(home);
    await writeFile(
      path.join(dir, `${deadPid}.json`),
      JSON.stringify({ pid: deadPid, startedAt: 1, socket: path.join(dir, `${deadPid}.sock`), listen: null, version: "0.1.0" }),
    );
    await writeFile(path.join(dir, `${deadPid}.sock`), "");
    await writeFile(path.join(dir, `${live.pid}.json`), "{not json");
    // A FIFO as a live pid's host file is skipped, not read (the read would never end).
    const planted = spawn("sleep", ["30"], { stdio: "ignore" });
    cleanups.push(async () => planted.kill("SIGKILL"));
    await once(planted, "spawn");
    execFileSync("mkfifo", [path.join(dir, `${planted.pid}.json`)]);
    const elsewhere = spawn("sleep", ["30"], { stdio: "ignore" });
    cleanups.push(async () => elsewhere.kill("SIGKILL"));
    await once(elsewhere, "spawn");
    // A host file must name its own socket: a reader connects to what it says.
    await writeFile(
      path.join(dir, `${elsewhere.pid}.json`),
      JSON.stringify({ pid: elsewhere.pid, startedAt: 1, socket: "/tmp/elsewhere.sock", listen: null, version: "0.1.0" }),
    );
    await writeFile(path.join(dir, "notes.txt"), "unrelated");

    expect((await findHosts(home)).map((host) => host.pid)).toEqual([process.pid]);
    expect((await readdir(dir)).sort()).toEqual(
      [`${live.pid}.json`, `${planted.pid}.json`, `${elsewhere.pid}.json`, `${process.pid}.json`, `${process.pid}.sock`, "notes.txt"].sort(),
    );
    expect(control.host.pid).toBe(process.pid);
  });

  const FIXTURE = path.join(FIXTURES, "app-server", "control-host.ts");

  /** Starts the stand-in host in its own process; resolves once its control socket is up. */
  async function childHost(home: string, mode: "exit" | "wait" | "handler" | "two") {
    const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, home, mode], { stdio: ["ignore", "pipe", "inherit"] });
    cleanups.push(async () => child.kill("SIGKILL"));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    child.stdout.setEncoding("utf8");
    let output = "";
    child.stdout.on("data", (chunk: string) => (output += chunk));
    await expect.poll(() => output, { timeout: 20_000 }).toMatch(/^ready .*\n/);
    const socketPath = output.slice("ready ".length).trim();
    return { child, exited, socketPath, hostFilePath: socketPath.replace(/\.sock$/, ".json") };
  }

  test("a host that exits normally leaves neither its socket nor its host file", async () => {
    const home = await tempHome();
    const { exited, socketPath, hostFilePath } = await childHost(home, "exit");
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socketPath)).toBe(false);
    expect(existsSync(hostFilePath)).toBe(false);
  });

  test.each(["SIGTERM", "SIGINT"] as const)("a host killed by %s cleans up and still dies by that signal", async (signal) => {
    const home = await tempHome();
    const { child, exited, socketPath, hostFilePath } = await childHost(home, "wait");
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    expect((await findHosts(home)).map((host) => host.pid)).toEqual([child.pid]);
    child.kill(signal);
    expect(await exited).toEqual({ code: null, signal });
    expect(existsSync(socketPath)).toBe(false);
    expect(existsSync(hostFilePath)).toBe(false);
  });

  test("a host with control sockets under two homes cleans up both when signalled", async () => {
    const home = await tempHome();
    const { child, exited } = await childHost(home, "two");
    const homes = [home, path.join(home, "second")];
    expect((await Promise.all(homes.map((dir) => findHosts(dir)))).map((hosts) => hosts.map((host) => host.pid))).toEqual([
      [child.pid],
      [child.pid],
    ]);
    child.kill("SIGTERM");
    expect(await exited).toEqual({ code: null, signal: "SIGTERM" });
    for (const dir of homes) expect(await readdir(path.join(dir, "app-server"))).toEqual([]);
  });

  test("a host with its own SIGTERM handler decides how to exit; its files go when it does", async () => {
    const home = await tempHome();
    const { child, exited, socketPath, hostFilePath } = await childHost(home, "handler");
    child.kill("SIGTERM");
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socketPath)).toBe(false);
    expect(existsSync(hostFilePath)).toBe(false);
  });

  test("a host killed by SIGKILL leaves files that readers ignore and remove", async () => {
    const home = await tempHome();
    const { child, exited, socketPath, hostFilePath } = await childHost(home, "wait");
    child.kill("SIGKILL");
    await exited;
    expect(existsSync(hostFilePath)).toBe(true);
    expect(await findHosts(home)).toEqual([]);
    expect(existsSync(socketPath)).toBe(false);
    expect(existsSync(hostFilePath)).toBe(false);
  });
});
