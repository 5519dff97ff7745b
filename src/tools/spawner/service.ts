// The spawn service: a small process that forks every command for its host. Forking from the host itself
// copies the page tables of a process holding gigabytes and stalls all its threads meanwhile; forking from this
// process costs milliseconds. One service per host process; each worker thread of the host holds one
// connection and multiplexes its commands on it (client.ts).
//
// It owns the commands' lifetime against its clients' death: every process group it starts stays recorded
// for its connection until nothing runs in it any more (background jobs included). When a connection closes
// (its worker thread ended, however) its groups are SIGKILLed; when the host dies (even by SIGKILL: the
// service is reparented, so its parent pid changes) every group is SIGKILLed and the service exits. Commands
// run under `setpriv --pdeathsig KILL` (when the caller asks, and setpriv can), so they also die if the service
// itself is killed.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { withParentDeathSignal } from "../pdeathsig.js";
import { isProcessGroupAlive, killProcessGroup, liveProcessGroups } from "../process-groups.js";
import { FrameError, FrameReader, encodeFrame } from "./frames.js";
import { HelloRequest, ServiceRequest, type ServiceReply, type SpawnRequest } from "./protocol.js";

export type SpawnServiceOptions = {
  /** The host's pid: when the service's parent is no longer this process, the host is gone. */
  hostPid: number;
  /** How often the host's liveness is checked (default 100 ms). */
  hostPollMs?: number | undefined;
  /** How often groups that outlived their command are checked for being empty (default 1000 ms). */
  lingerPollMs?: number | undefined;
  /** Called after everything was killed and the socket removed (the entry exits the process). */
  onStopped?: (() => void) | undefined;
};

export type SpawnService = {
  /** The unix socket clients connect to, in a directory only this user can enter. */
  socketPath: string;
  /** The secret a client's first frame must carry (hex). */
  token: string;
  /** Kills every recorded group, closes the socket, removes its directory. */
  stop(): void;
};

type Command = { child: ChildProcessByStdio<null, Readable, Readable>; pgid: number };

/** One client (a worker thread): its commands, and the groups it still owns. */
class Connection {
  readonly commands = new Map<number, Command>();
  /** Groups started for this client whose command exited but that may still hold background jobs. */
  readonly lingering = new Set<number>();
  /** Groups started for this client and not known to be empty. */
  readonly groups = new Set<number>();
  private readonly reader = new FrameReader();
  private backedUp = false;

  /** Whether the client has presented the service's secret (nothing else is handled before). */
  private authenticated = false;

  constructor(
    readonly socket: Socket,
    private readonly onLinger: () => void,
    private readonly token: Buffer,
  ) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("drain", () => this.setBackedUp(false));
    socket.on("error", () => socket.destroy());
  }

  /** SIGKILLs every group this client still owns (its worker thread ended, or the host did). */
  killAll(): void {
    for (const pgid of this.groups) killProcessGroup(pgid);
    this.groups.clear();
    this.lingering.clear();
    for (const command of this.commands.values()) {
      command.child.stdout.destroy();
      command.child.stderr.destroy();
    }
  }

  /** Forgets the lingering groups in which nothing runs any more. */
  prune(): void {
    if (this.lingering.size === 0) return;
    const live = liveProcessGroups(this.lingering);
    for (const pgid of this.lingering) {
      if (live.has(pgid)) continue;
      this.lingering.delete(pgid);
      this.groups.delete(pgid);
    }
  }

  private receive(chunk: Buffer): void {
    let messages: unknown[];
    try {
      messages = this.reader.push(chunk);
    } catch (error) {
      // The stream can no longer be parsed: nothing after this frame can be trusted.
      this.send({ type: "refused", message: error instanceof FrameError ? error.message : String(error) });
      this.socket.destroy();
      return;
    }
    for (const message of messages) {
      if (this.socket.destroyed) return;
      this.handle(message);
    }
  }

  private handle(message: unknown): void {
    if (!this.authenticated) {
      const hello = HelloRequest.safeParse(message);
      const presented = hello.success ? Buffer.from(hello.data.token, "hex") : undefined;
      if (presented === undefined || presented.length !== this.token.length || !timingSafeEqual(presented, this.token)) {
        this.socket.destroy();
        return;
      }
      this.authenticated = true;
      return;
    }
    const parsed = ServiceRequest.safeParse(message);
    if (!parsed.success) {
      const id = (message as { id?: unknown } | null)?.id;
      const reason = `invalid request: ${parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`).join("; ")}`;
      if ((message as { type?: unknown } | null)?.type === "spawn" && typeof id === "number" && !this.commands.has(id)) {
        this.send({ type: "error", id, code: "EINVAL", errno: undefined, syscall: "spawn", path: undefined, message: reason });
      } else {
        this.send({ type: "refused", message: reason });
      }
      return;
    }
    const request = parsed.data;
    if (request.type === "spawn") this.spawn(request);
    else if (request.type === "kill") {
      if (!this.groups.has(request.pgid)) return;
      try {
        process.kill(-request.pgid, request.signal);
      } catch {
        // Already gone.
      }
    } else {
      const command = this.commands.get(request.id);
      command?.child.stdout.destroy();
      command?.child.stderr.destroy();
    }
  }

  private spawn(request: SpawnRequest): void {
    const { id, cwd, env } = request;
    // Wrapped here, not in the worker: finding setpriv runs a trial spawn, cheap in this small process.
    const [file = request.file, ...args] = request.dieWithParent ? withParentDeathSignal([request.file, ...request.args], cwd, env) : [request.file, ...request.args];
    if (this.commands.has(id)) {
      this.send({ type: "refused", message: `command id ${id} is already in use` });
      return;
    }
    let child: ChildProcessByStdio<null, Readable, Readable>;
    try {
      child = spawn(file, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      const failure = error as NodeJS.ErrnoException;
      this.send({ type: "error", id, code: failure.code ?? "EINVAL", errno: failure.errno, syscall: "spawn", path: request.file, message: failure.message });
      return;
    }
    const pid = child.pid;
    if (pid === undefined) {
      child.once("error", (error: NodeJS.ErrnoException) => {
        this.send({
          type: "error",
          id,
          code: error.code ?? "UNKNOWN",
          errno: error.errno,
          syscall: error.syscall ?? `spawn ${request.file}`,
          path: request.file,
          message: error.message,
        });
      });
      return;
    }
    // A failed kill or the like after the spawn: nothing to report (its end comes as "exit" and "close").
    child.on("error", () => {});
    this.commands.set(id, { child, pgid: pid });
    this.groups.add(pid);
    this.send({ type: "spawned", id, pid });
    for (const stream of ["stdout", "stderr"] as const) {
      child[stream].on("data", (chunk: Buffer) => this.send({ type: "output", id, stream, chunk }));
      // A destroyed pipe may report EPIPE or the like; the command's end is reported by "close".
      child[stream].on("error", () => {});
    }
    if (this.backedUp) this.pauseStreams(true);
    child.once("exit", (code, signal) => this.send({ type: "exit", id, code, signal }));
    child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
      this.commands.delete(id);
      this.send({ type: "close", id, code, signal });
      if (!this.groups.has(pid)) return;
      // Background jobs may still run in the group: it stays recorded until they end.
      if (isProcessGroupAlive(pid)) {
        this.lingering.add(pid);
        this.onLinger();
      } else {
        this.groups.delete(pid);
      }
    });
  }

  /** Writes a reply; while the socket is backed up, the commands' pipes are not read (the commands block). */
  private send(reply: ServiceReply): void {
    if (this.socket.destroyed) return;
    if (!this.socket.write(encodeFrame(reply))) this.setBackedUp(true);
  }

  private setBackedUp(backedUp: boolean): void {
    if (this.backedUp === backedUp) return;
    this.backedUp = backedUp;
    this.pauseStreams(backedUp);
  }

  private pauseStreams(pause: boolean): void {
    for (const { child } of this.commands.values()) {
      for (const stream of [child.stdout, child.stderr]) {
        if (pause) stream.pause();
        else stream.resume();
      }
    }
  }
}

/** Starts listening; resolves once clients can connect. */
export async function startSpawnService(options: SpawnServiceOptions): Promise<SpawnService> {
  const { hostPid, hostPollMs = 100, lingerPollMs = 1_000 } = options;
  // mkdtemp makes the directory 0700: nobody else can reach the socket inside it.
  const dir = mkdtempSync(path.join(tmpdir(), "llmx-spawner-"));
  chmodSync(dir, 0o700);
  const socketPath = path.join(dir, "socket");
  const token = randomBytes(32);
  const connections = new Set<Connection>();
  let lingerPoll: NodeJS.Timeout | undefined;
  let stopped = false;

  const pruneAll = () => {
    for (const connection of connections) connection.prune();
    if (![...connections].some((connection) => connection.lingering.size > 0)) {
      clearInterval(lingerPoll);
      lingerPoll = undefined;
    }
  };
  const onLinger = () => {
    lingerPoll ??= setInterval(pruneAll, lingerPollMs);
  };

  const server: Server = createServer((socket) => {
    const connection = new Connection(socket, onLinger, token);
    connections.add(connection);
    socket.once("close", () => {
      connections.delete(connection);
      connection.killAll();
    });
  });

  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearInterval(hostWatch);
    clearInterval(lingerPoll);
    for (const connection of connections) {
      connection.killAll();
      connection.socket.destroy();
    }
    server.close();
    rmSync(dir, { recursive: true, force: true });
    options.onStopped?.();
  };
  const hostWatch = setInterval(() => {
    if (process.ppid !== hostPid) stop();
  }, hostPollMs);

  return new Promise((resolve, reject) => {
    server.once("error", (error) => {
      rmSync(dir, { recursive: true, force: true });
      clearInterval(hostWatch);
      reject(error);
    });
    // The socket file is created with the umask: make it 0600 from the start, then restore the umask commands see.
    const umask = process.umask(0o077);
    server.listen(socketPath, () => {
      process.umask(umask);
      chmodSync(socketPath, 0o600);
      resolve({ socketPath, token: token.toString("hex"), stop });
    });
  });
}
