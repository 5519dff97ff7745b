// The control socket and host file of a running app-server, whatever its client transport: a unix socket at
// `$LLMX_HOME/app-server/<pid>.sock` (mode 0600, in a 0700 directory) speaking the same protocol, one JSON
// message per line, and `<pid>.json` saying what the host is, so `llmx ps` can find it. Both are removed when
// the host stops or exits (normally, or by SIGINT/SIGTERM); readers skip and clean the files of dead pids.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { readdir, rename, unlink, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import path from "node:path";
import { z } from "zod";
import { ControlSocketError } from "../errors.js";
import { readRegularFile } from "../util/regular-file.js";
import { CLI_VERSION } from "../version.js";
import type { Connection } from "./connection.js";
import { lineConnection } from "./line-connection.js";

/** The longest unix socket path the kernel takes (sun_path is 108 bytes on Linux, NUL included). */
const MAX_SOCKET_PATH_BYTES = 107;

/** What `<pid>.json` holds. */
export const HostFileSchema = z.object({
  pid: z.number().int().positive(),
  /** Unix seconds. */
  startedAt: z.number(),
  socket: z.string(),
  /** The WebSocket listener's URL, or null when clients come over stdio. */
  listen: z.string().nullable(),
  version: z.string(),
});
export type HostFile = z.infer<typeof HostFileSchema>;

export type ControlSocket = {
  readonly socketPath: string;
  readonly hostFilePath: string;
  readonly host: HostFile;
  /** Stops accepting, closes the clients, removes the socket and the host file. */
  close(): Promise<void>;
};

export type ControlSocketOptions = {
  /** The WebSocket URL the host also listens on (recorded in the host file). */
  listen?: string | null;
  version?: string;
};

/** The directory holding the hosts' sockets and files. */
export function hostsDir(home: string): string {
  return path.join(home, "app-server");
}

function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = lstatSync(dir);
    if (!stat.isDirectory()) throw new ControlSocketError(dir, `${dir} is not a directory`);
    // Made by someone else (possible where the llmx home is writable by others): they could swap our socket.
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) {
      throw new ControlSocketError(dir, `${dir} belongs to another user (uid ${stat.uid}); refusing to put the control socket there`);
    }
    if ((stat.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  } catch (error) {
    if (error instanceof ControlSocketError) throw error;
    throw new ControlSocketError(dir, `cannot prepare ${dir} for the control socket: ${(error as Error).message}`, { cause: error });
  }
}

/** The signals whose default action ends the process without running `exit` handlers, and that we clean up on. */
const CLEANUP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** What to remove at exit, per control socket this process has open (one per home: the path is named by our pid). */
const openSockets = new Map<string, () => void>();

const cleanUpAll = (): void => {
  for (const cleanUp of openSockets.values()) cleanUp();
};

function stopListening(): void {
  process.off("exit", cleanUpAll);
  for (const signal of CLEANUP_SIGNALS) process.off(signal, onSignal);
}

/**
 * On SIGINT/SIGTERM/SIGHUP with nobody else listening, the process would die without running `exit` handlers:
 * clean up, stop listening (so the default action applies again) and raise the signal again, to die by it. When
 * someone else handles the signal, it decides what happens, and `exit` cleans up if the process ends. Our
 * listener goes first, so a `once` listener of someone else's is still counted when we look.
 */
const onSignal = (signal: NodeJS.Signals): void => {
  if (process.listenerCount(signal) > 1) return;
  cleanUpAll();
  stopListening();
  process.kill(process.pid, signal);
};

function track(socketPath: string, cleanUp: () => void): void {
  if (openSockets.size === 0) {
    process.on("exit", cleanUpAll);
    for (const signal of CLEANUP_SIGNALS) process.prependListener(signal, onSignal);
  }
  openSockets.set(socketPath, cleanUp);
}

function untrack(socketPath: string): void {
  if (openSockets.delete(socketPath) && openSockets.size === 0) stopListening();
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Already gone.
  }
}

export async function startControlSocket(
  home: string,
  onConnection: (connection: Connection) => void,
  options: ControlSocketOptions = {},
): Promise<ControlSocket> {
  const dir = hostsDir(path.resolve(home));
  ensurePrivateDir(dir);
  const pid = process.pid;
  const socketPath = path.join(dir, `${pid}.sock`);
  const hostFilePath = path.join(dir, `${pid}.json`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new ControlSocketError(
      socketPath,
      `the control socket path ${socketPath} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a unix socket path may have; use a shorter llmx home`,
    );
  }
  if (openSockets.has(socketPath)) {
    throw new ControlSocketError(socketPath, `this process already has a control socket under ${home}`);
  }
  // A socket left by an earlier process with our pid is dead (we are that pid now).
  removeQuietly(socketPath);

  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    accepted += 1;
    onConnection(lineConnection(socket, socket, `control socket #${accepted}`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(new ControlSocketError(socketPath, `cannot listen on ${socketPath}: ${error.message}`, { cause: error })),
    );
    server.listen(socketPath, () => resolve());
  });
  // The directory is already private; the socket's own mode says the same to anyone who looks.
  chmodSync(socketPath, 0o600);

  const host: HostFile = {
    pid,
    startedAt: Math.floor(Date.now() / 1000),
    socket: socketPath,
    listen: options.listen ?? null,
    version: options.version ?? CLI_VERSION,
  };
  const cleanUp = (): void => {
    removeQuietly(hostFilePath);
    removeQuietly(socketPath);
  };
  track(socketPath, cleanUp);
  const detach = (): void => untrack(socketPath);

  try {
    // Written whole, then renamed into place: a reader never sees half a file.
    const temporary = `${hostFilePath}.tmp`;
    await writeFile(temporary, `${JSON.stringify(host)}\n`, { mode: 0o600 });
    await rename(temporary, hostFilePath);
  } catch (error) {
    detach();
    server.close();
    cleanUp();
    throw new ControlSocketError(hostFilePath, `cannot write ${hostFilePath}: ${(error as Error).message}`, { cause: error });
  }

  let closing: Promise<void> | undefined;
  return {
    socketPath,
    hostFilePath,
    host,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        detach();
        cleanUp();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

/** Whether a process with this pid exists (one we may not signal still exists). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The running hosts under `home`, oldest first. Files of pids that are gone are removed; unreadable or malformed
 * files of live pids, and files naming a socket other than their own, are skipped.
 */
export async function findHosts(home: string): Promise<HostFile[]> {
  const dir = hostsDir(path.resolve(home));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const hosts: HostFile[] = [];
  for (const name of names) {
    const match = /^(\d+)\.json$/.exec(name);
    if (match === null) continue;
    const pid = Number(match[1]);
    const file = path.join(dir, name);
    if (!isAlive(pid)) {
      await Promise.all([unlink(file).catch(() => {}), unlink(path.join(dir, `${pid}.sock`)).catch(() => {})]);
      continue;
    }
    let parsed: ReturnType<typeof HostFileSchema.safeParse>;
    try {
      // A FIFO planted in the directory must not block `llmx ps` forever.
      parsed = HostFileSchema.safeParse(JSON.parse((await readRegularFile(file)).toString("utf8")));
    } catch {
      continue;
    }
    if (parsed.success && parsed.data.pid === pid && parsed.data.socket === path.join(dir, `${pid}.sock`)) hosts.push(parsed.data);
  }
  return hosts.sort((a, b) => a.startedAt - b.startedAt || a.pid - b.pid);
}

/**
 * Removes the files of a host found by `findHosts` whose socket turned out to be dead (nobody listens on it, or it
 * is gone): its pid now belongs to another process. A host removes its files before it stops listening, so a live
 * host is never mistaken for one.
 */
export async function forgetHost(host: HostFile): Promise<void> {
  const hostFilePath = host.socket.replace(/\.sock$/, ".json");
  await Promise.all([unlink(hostFilePath).catch(() => {}), unlink(host.socket).catch(() => {})]);
}
