// The worker side of the spawn service (service.ts): finds or starts the host's one service, holds this
// thread's connection to it (opened on the first command, multiplexing every command of the thread), and
// gives each command a ChildProcess-like handle, so that shell.ts spawns through it as it would spawn directly.
//
// Finding the service: all threads of a host share one SharedArrayBuffer (handed to every new thread through
// worker_threads environment data) holding the service's state and socket path. The first thread to need it
// claims the start with a compare-and-swap and spawns the service; the others wait for the path. A thread that
// finds the service dead (its connection refused) clears the path and the next command starts another.
//
// When the service cannot start (no compiled entry, no room for its socket), commands are spawned directly, as
// before the service existed, with one warning per host. LLMX_SPAWN_SERVICE=0 in the host's environment asks
// for that from the start (benchmarks compare both).
import type * as ChildProcesses from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { getEnvironmentData, setEnvironmentData } from "node:worker_threads";
import { monotonicMs } from "../../util/clock.js";
import { requireBuiltin } from "../../util/builtin.js";
import { withParentDeathSignal } from "../pdeathsig.js";
import { FrameReader, encodeFrame } from "./frames.js";
import type { HelloRequest, ServiceReply, ServiceRequest } from "./protocol.js";

const SHARED_KEY = "llmx:spawn-service";
const STATE_NONE = 0;
const STATE_STARTING = 1;
const STATE_READY = 2;
const STATE_UNAVAILABLE = 3;
/** Int32 slots: state, path length, generation, warned (the fallback was announced); then the path's bytes. */
const PATH_OFFSET = 16;
const PATH_MAX = 1024;
/** How long the service may take to print its socket path, and how long another thread's start may take. */
const START_TIMEOUT_MS = 10_000;
const START_POLL_MS = 10;
/**
 * How long the service may take to say it started a command (or could not). A fork takes milliseconds; a service
 * that says nothing for this long is hung (stopped, say) and is given up: LLMX_SPAWN_CONFIRM_MS shortens it for
 * tests.
 */
const CONFIRM_TIMEOUT_MS = Number(process.env.LLMX_SPAWN_CONFIRM_MS) > 0 ? Number(process.env.LLMX_SPAWN_CONFIRM_MS) : 15_000;

/** The state every thread of this host shares: created by the first thread that loads this module. */
function sharedState(): Int32Array {
  let buffer = getEnvironmentData(SHARED_KEY);
  if (!(buffer instanceof SharedArrayBuffer)) {
    buffer = new SharedArrayBuffer(PATH_OFFSET + PATH_MAX);
    setEnvironmentData(SHARED_KEY, buffer);
  }
  return new Int32Array(buffer as SharedArrayBuffer);
}
const shared = sharedState();

/**
 * Makes threads created from now on share this thread's spawn service (one per host). Loading this module
 * already does it; the manager calls it before starting its pool so that the dependency is explicit.
 */
export function shareSpawnServiceWithNewThreads(): void {
  if (getEnvironmentData(SHARED_KEY) !== shared.buffer) setEnvironmentData(SHARED_KEY, shared.buffer);
}

function readPath(): string | undefined {
  if (Atomics.load(shared, 0) !== STATE_READY) return undefined;
  const length = Atomics.load(shared, 1);
  return Buffer.from(new Uint8Array(shared.buffer, PATH_OFFSET, length)).toString("utf8");
}

/**
 * The compiled service entry, dist/workers/spawner.js, seen from this module as compiled (dist/src/tools/spawner/),
 * as bundled into a worker chunk (dist/workers/bundle/), or run from source (src/tools/spawner/).
 */
function serviceEntry(): string | undefined {
  const candidates = [
    new URL("../../../workers/spawner.js", import.meta.url),
    new URL("../spawner.js", import.meta.url),
    new URL("../../../dist/workers/spawner.js", import.meta.url),
  ];
  return candidates.map((url) => fileURLToPath(url)).find((file) => file.endsWith(".js") && existsSync(file));
}

class ServiceUnavailable extends Error {}

/** Starts the service from this thread; resolves the line it prints: its secret and its socket path. */
function startService(): Promise<string> {
  const entry = serviceEntry();
  if (entry === undefined) return Promise.reject(new ServiceUnavailable("its compiled entry (dist/workers/spawner.js) is missing"));
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // a loader meant for the host (tsx) has no business in the service
    let child: ChildProcess;
    try {
      // Its own session: a terminal's Ctrl-C reaches the host, whose death the service then notices.
      const { spawn } = requireBuiltin<typeof ChildProcesses>("node:child_process");
      child = spawn(process.execPath, [entry, String(process.pid)], { detached: true, stdio: ["ignore", "pipe", "inherit"], env, cwd: "/" });
    } catch (error) {
      reject(new ServiceUnavailable((error as Error).message));
      return;
    }
    let output = "";
    const fail = (reason: string) => {
      clearTimeout(deadline);
      child.stdout?.destroy();
      if (child.exitCode === null) child.kill("SIGKILL");
      reject(new ServiceUnavailable(reason));
    };
    const deadline = setTimeout(() => fail(`it did not start within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    child.once("error", (error) => fail(error.message));
    child.once("exit", (code, signal) => fail(`it exited (${signal ?? code}) before it was ready`));
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (text: string) => {
      output += text;
      const newline = output.indexOf("\n");
      if (newline < 0) return;
      clearTimeout(deadline);
      child.removeAllListeners("exit");
      child.removeAllListeners("error");
      child.on("error", () => {});
      child.stdout?.destroy();
      child.unref();
      resolve(output.slice(0, newline));
    });
  });
}

type ServiceAddress = { token: string; socketPath: string };

/** "<token> <path>", the line the service prints (and what the host publishes to its threads). */
function parseAddress(line: string): ServiceAddress {
  const space = line.indexOf(" ");
  const token = line.slice(0, space);
  if (space < 0 || !/^[0-9a-f]{64}$/.test(token)) throw new ServiceUnavailable("it printed no secret");
  return { token, socketPath: line.slice(space + 1) };
}

/** The service's address: the one already published, or one this thread (or another) starts now. */
async function serviceAddress(): Promise<ServiceAddress> {
  return parseAddress(await servicePath());
}

/** The service's published line (secret and socket path), starting the service when none is. */
async function servicePath(): Promise<string> {
  const deadline = monotonicMs() + 2 * START_TIMEOUT_MS;
  for (;;) {
    const state = Atomics.load(shared, 0);
    if (state === STATE_READY) return readPath() as string;
    if (state === STATE_UNAVAILABLE) throw new ServiceUnavailable("another thread could not start it");
    if (state === STATE_NONE && Atomics.compareExchange(shared, 0, STATE_NONE, STATE_STARTING) === STATE_NONE) {
      try {
        const line = await startService();
        parseAddress(line);
        const bytes = Buffer.from(line, "utf8");
        if (bytes.length > PATH_MAX) throw new ServiceUnavailable("its socket path is too long");
        new Uint8Array(shared.buffer, PATH_OFFSET, PATH_MAX).set(bytes);
        Atomics.store(shared, 1, bytes.length);
        Atomics.add(shared, 2, 1);
        Atomics.store(shared, 0, STATE_READY);
        return line;
      } catch (error) {
        Atomics.store(shared, 0, STATE_UNAVAILABLE);
        throw error;
      }
    }
    if (monotonicMs() > deadline) {
      // The thread that claimed the start died meanwhile: take it over.
      Atomics.compareExchange(shared, 0, STATE_STARTING, STATE_NONE);
    }
    await new Promise((resolve) => setTimeout(resolve, START_POLL_MS));
  }
}

/**
 * A service that was published but refuses connections is dead (killed: it could not clean up): unpublish it
 * so that the next start replaces it, and remove its directory.
 */
function forgetService(generation: number, socketPath: string): void {
  if (Atomics.load(shared, 2) !== generation) return;
  if (Atomics.compareExchange(shared, 0, STATE_READY, STATE_NONE) !== STATE_READY) return;
  const dir = path.dirname(socketPath);
  if (path.basename(dir).startsWith("llmx-spawner-")) rmSync(dir, { recursive: true, force: true });
}

/** This thread's connection: one socket, every command of the thread on it. */
class ServiceConnection {
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly commands = new Map<number, ServiceCommand>();
  /** Commands sent and not yet confirmed (`spawned` or `error`), with their deadlines. */
  private readonly unconfirmed = new Map<number, NodeJS.Timeout>();
  /** The service the socket is connected to, to forget it if it hangs. */
  private address: { generation: number; socketPath: string } | undefined;
  private nextId = 0;

  /** Sends a spawn for `command` once connected; rejects when the service cannot be reached or started. */
  async spawn(command: ServiceCommand, request: Omit<Extract<ServiceRequest, { type: "spawn" }>, "id" | "type">): Promise<void> {
    let socket = await this.connection();
    // Closed between connecting and now (the service died): its close already failed the commands it held.
    for (let attempt = 0; socket.destroyed; attempt++) {
      if (attempt >= 2) throw new ServiceUnavailable("its connection keeps closing");
      socket = await this.connection();
    }
    const id = this.nextId++;
    this.commands.set(id, command);
    command.attach(id, (message) => this.send(message));
    socket.ref();
    this.send({ type: "spawn", id, ...request });
    const deadline = setTimeout(() => this.hung(socket), CONFIRM_TIMEOUT_MS);
    deadline.unref();
    this.unconfirmed.set(id, deadline);
  }

  /**
   * The service did not confirm a spawn in time: it is forgotten (the next command starts another), the commands
   * it did start are killed by their process groups, and the connection is closed, which fails the unconfirmed
   * ones. They are not run again: the hung service may still run them, and a command must not run twice.
   */
  private hung(socket: Socket): void {
    if (this.address !== undefined) forgetService(this.address.generation, this.address.socketPath);
    for (const command of this.commands.values()) {
      command.serviceHung = true;
      if (command.pid !== undefined) {
        try {
          process.kill(-command.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
    socket.destroy();
  }

  private send(message: ServiceRequest): void {
    if (this.socket !== undefined && !this.socket.destroyed) this.socket.write(encodeFrame(message));
  }

  private connection(): Promise<Socket> {
    if (this.socket !== undefined && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<Socket> {
    for (let attempt = 0; ; attempt++) {
      const { token, socketPath } = await serviceAddress();
      const generation = Atomics.load(shared, 2);
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const socket = connect(socketPath);
          socket.once("connect", () => resolve(socket));
          socket.once("error", reject);
        });
        this.adopt(socket);
        this.address = { generation, socketPath };
        socket.write(encodeFrame({ type: "hello", token } satisfies HelloRequest));
        return socket;
      } catch (error) {
        forgetService(generation, socketPath);
        if (attempt >= 1) throw new ServiceUnavailable(`cannot connect to it: ${(error as Error).message}`);
      }
    }
  }

  private adopt(socket: Socket): void {
    const reader = new FrameReader();
    socket.removeAllListeners("error");
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      let replies: unknown[];
      try {
        replies = reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const reply of replies) this.receive(reply as ServiceReply);
    });
    socket.once("close", () => {
      if (this.socket === socket) this.socket = undefined;
      const orphans = [...this.commands.values()];
      this.commands.clear();
      for (const deadline of this.unconfirmed.values()) clearTimeout(deadline);
      this.unconfirmed.clear();
      for (const command of orphans) command.lost();
    });
    socket.unref();
    this.socket = socket;
  }

  private receive(reply: ServiceReply): void {
    if (reply.type === "refused") return;
    const command = this.commands.get(reply.id);
    if (command === undefined) return;
    if (reply.type === "spawned" || reply.type === "error") {
      clearTimeout(this.unconfirmed.get(reply.id));
      this.unconfirmed.delete(reply.id);
    }
    if (reply.type === "close" || reply.type === "error") {
      this.commands.delete(reply.id);
      if (this.commands.size === 0) this.socket?.unref();
    }
    command.receive(reply, () => this.socket?.pause(), () => this.socket?.resume());
  }
}

let connection: ServiceConnection | undefined;
let directOnly = process.env.LLMX_SPAWN_SERVICE === "0";

export type CommandSpawnOptions = {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Run it under `setpriv --pdeathsig KILL` where available (pdeathsig.ts): it dies with whoever forked it. */
  dieWithParent?: boolean | undefined;
};

/**
 * A spawned command, as child_process reports one: `spawn`, `error` (the spawn failed; `code` is its errno
 * code), `exit` and `close` events, `pid` once spawned, and its output as `stdout` and `stderr`. `viaService`
 * says whether the spawn service started it (and so records its group against the thread's or host's death).
 */
export class ServiceCommand extends EventEmitter {
  pid: number | undefined;
  viaService = true;
  /** The service stopped answering; the connection was closed for that, not by the service's death. */
  serviceHung = false;
  readonly stdout: Readable;
  readonly stderr: Readable;
  private id: number | undefined;
  private sendRequest: ((message: ServiceRequest) => void) | undefined;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private closed = false;
  private pausedStreams = new Set<Readable>();
  private resumeSocket: (() => void) | undefined;

  constructor() {
    super();
    const read = (stream: () => Readable) => () => {
      if (this.pausedStreams.delete(stream()) && this.pausedStreams.size === 0) this.resumeSocket?.();
    };
    this.stdout = new Readable({ read: read(() => this.stdout) });
    this.stderr = new Readable({ read: read(() => this.stderr) });
    for (const stream of [this.stdout, this.stderr]) {
      stream.once("close", () => {
        // Destroyed before its end (the caller gave up on output that background jobs keep open): stop reading.
        if (!stream.readableEnded && this.id !== undefined) this.sendRequest?.({ type: "release", id: this.id });
        this.maybeClose();
      });
    }
  }

  /** Signals the command's whole process group. */
  kill(signal: NodeJS.Signals = "SIGTERM"): boolean {
    if (this.pid === undefined || this.exited !== undefined) return false;
    if (this.viaService) this.sendRequest?.({ type: "kill", pgid: this.pid, signal });
    else {
      try {
        process.kill(-this.pid, signal);
      } catch {
        return false;
      }
    }
    return true;
  }

  attach(id: number, send: (message: ServiceRequest) => void): void {
    this.id = id;
    this.sendRequest = send;
  }

  receive(reply: Exclude<ServiceReply, { type: "refused" }>, pauseSocket: () => void, resumeSocket: () => void): void {
    switch (reply.type) {
      case "spawned":
        this.pid = reply.pid;
        this.emit("spawn");
        break;
      case "error": {
        const error = Object.assign(new Error(`spawn ${reply.path ?? ""} ${reply.code}: ${reply.message}`), {
          code: reply.code,
          errno: reply.errno,
          syscall: reply.syscall,
          path: reply.path,
        });
        error.message = reply.message;
        this.emit("error", error);
        this.finishStreams();
        this.emitClose(reply.errno ?? -1, null);
        break;
      }
      case "output": {
        const stream = reply.stream === "stdout" ? this.stdout : this.stderr;
        if (stream.destroyed) break;
        const chunk = Buffer.from(reply.chunk.buffer, reply.chunk.byteOffset, reply.chunk.byteLength);
        if (!stream.push(chunk)) {
          // A slow reader: stop reading the connection; the service then stops reading the command's pipes.
          this.pausedStreams.add(stream);
          this.resumeSocket = resumeSocket;
          pauseSocket();
        }
        break;
      }
      case "exit":
        this.exited = { code: reply.code, signal: reply.signal as NodeJS.Signals | null };
        this.emit("exit", reply.code, reply.signal);
        this.maybeClose();
        break;
      case "close":
        this.exited ??= { code: reply.code, signal: reply.signal as NodeJS.Signals | null };
        this.finishStreams();
        break;
    }
  }

  /** The connection to the service broke (the service died, killing the command). */
  lost(): void {
    if (this.pid === undefined) {
      const error = this.serviceHung
        ? Object.assign(new Error(`the spawn service did not confirm the command's start within ${CONFIRM_TIMEOUT_MS} ms`), { code: "ETIMEDOUT" })
        : Object.assign(new Error("the spawn service went away before the command started"), { code: "ECONNRESET" });
      this.emit("error", error);
      this.finishStreams();
      this.emitClose(-1, null);
      return;
    }
    if (this.exited === undefined) {
      this.exited = { code: null, signal: "SIGKILL" };
      this.emit("exit", null, "SIGKILL");
    }
    this.finishStreams();
  }

  /** Runs `file` directly from this thread (the service is unavailable), relaying its events. */
  runDirectly(program: string, programArgs: readonly string[], options: CommandSpawnOptions): void {
    this.viaService = false;
    const command = [program, ...programArgs];
    const [file = program, ...args] = options.dieWithParent === true ? withParentDeathSignal(command, options.cwd, options.env) : command;
    let child: ChildProcess;
    try {
      const { spawn } = requireBuiltin<typeof ChildProcesses>("node:child_process");
      child = spawn(file, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      // Reported as child_process reports a failed spawn: as an event, after the caller attached its listeners.
      process.nextTick(() => {
        this.emit("error", error);
        this.finishStreams();
        this.emitClose(-1, null);
      });
      return;
    }
    child.once("spawn", () => {
      this.pid = child.pid;
      this.emit("spawn");
    });
    child.once("error", (error) => {
      if (child.pid === undefined) this.emit("error", error);
    });
    for (const [source, target] of [[child.stdout, this.stdout], [child.stderr, this.stderr]] as const) {
      source?.on("data", (chunk: Buffer) => {
        if (!target.destroyed) target.push(chunk);
      });
      target.once("close", () => source?.destroy());
    }
    child.once("exit", (code, signal) => {
      this.exited = { code, signal };
      this.emit("exit", code, signal);
    });
    child.once("close", (code, signal) => {
      this.exited ??= { code, signal };
      this.finishStreams();
    });
  }

  private finishStreams(): void {
    for (const stream of [this.stdout, this.stderr]) {
      if (stream.destroyed) continue;
      stream.push(null);
      // Nobody reads it: let it end anyway, or "close" would never come.
      if (stream.readableFlowing === null) stream.resume();
    }
  }

  /** "close" follows "exit" once both streams are over, as child_process does. */
  private maybeClose(): void {
    if (this.exited === undefined || !this.stdout.closed || !this.stderr.closed) return;
    this.emitClose(this.exited.code, this.exited.signal);
  }

  private emitClose(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.closed) return;
    this.closed = true;
    this.emit("close", code, signal);
  }
}

function stringEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}

/**
 * Spawns `file args` in its own process group with stdin ignored and stdout/stderr piped: through the host's
 * spawn service, or directly when the service cannot run here. Throws at once, as child_process.spawn does,
 * on arguments no process can receive (a NUL byte).
 */
export function spawnCommandProcess(file: string, args: readonly string[], options: CommandSpawnOptions): ServiceCommand {
  const env = stringEnvironment(options.env);
  const strings = [file, ...args, options.cwd, ...Object.keys(env), ...Object.values(env)];
  if (strings.some((value) => value.includes("\0"))) {
    throw new TypeError(`the command's arguments, working directory or environment contain a NUL byte (running ${file})`);
  }
  const command = new ServiceCommand();
  if (directOnly) {
    command.runDirectly(file, args, options);
    return command;
  }
  connection ??= new ServiceConnection();
  connection.spawn(command, { file, args: [...args], cwd: options.cwd, env, dieWithParent: options.dieWithParent === true }).catch((error: unknown) => {
    if (!directOnly) {
      directOnly = true;
      // Once per host, not once per thread.
      if (Atomics.compareExchange(shared, 3, 0, 1) === 0) {
        const reason = (error as Error).message;
        process.emitWarning(`llmx: commands are spawned directly from this process: the spawn service is unavailable (${reason})`);
      }
    }
    command.runDirectly(file, args, options);
  });
  return command;
}
