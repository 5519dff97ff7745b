// The spawn service (src/tools/spawner/): it forks commands for the threads of its host over a private socket,
// streams their output (binary intact), reports spawn errors by errno code, signals and records their process
// groups, kills a client's groups when its connection closes, and everything when the host dies.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { FrameReader, encodeFrame } from "../../src/tools/spawner/frames.js";
import type { ServiceReply } from "../../src/tools/spawner/protocol.js";
import { startSpawnService, type SpawnService } from "../../src/tools/spawner/service.js";
import { isProcessGroupAlive, killProcessGroup } from "../../src/tools/index.js";
import { eventually, isGone, readPid } from "./processes.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Host processes run plain node on the compiled client (needs `npm run build`). */
const BUILT_CLIENT = path.resolve(HERE, "../../dist/src/tools/spawner/client.js");

const services: SpawnService[] = [];
const sockets: Socket[] = [];
const dirs: string[] = [];
const leftovers: number[] = [];
const hosts: ChildProcess[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const service of services.splice(0)) service.stop();
  for (const host of hosts.splice(0)) host.kill("SIGKILL");
  for (const pid of leftovers.splice(0)) killProcessGroup(pid);
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "llmx-spawner-test-"));
  dirs.push(dir);
  return dir;
}

/** A raw client: sends requests, collects every reply by command id. */
type Client = {
  send(message: unknown): void;
  replies(id: number): ServiceReply[];
  /** Resolves the replies of `id` once one of type `type` arrived. */
  until(id: number, type: ServiceReply["type"]): Promise<ServiceReply[]>;
  refusals(): string[];
  socket: Socket;
};

async function serviceAndClient(): Promise<{ service: SpawnService; client: Client }> {
  // This test process plays the host: its parent stays alive for the whole test.
  const service = await startSpawnService({ hostPid: process.ppid, lingerPollMs: 50 });
  services.push(service);
  return { service, client: await connectClient(service) };
}

/** A client of `service`; it presents the service's secret first unless `token` says otherwise (null: none). */
async function connectClient(service: SpawnService, token: string | null = service.token): Promise<Client> {
  const socketPath = service.socketPath;
  const socket = connect(socketPath);
  sockets.push(socket);
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  if (token !== null) socket.write(encodeFrame({ type: "hello", token }));
  const reader = new FrameReader();
  const byId = new Map<number, ServiceReply[]>();
  const refused: string[] = [];
  const waiters: (() => void)[] = [];
  socket.on("data", (chunk: Buffer) => {
    for (const reply of reader.push(chunk) as ServiceReply[]) {
      if (reply.type === "refused") refused.push(reply.message);
      else byId.set(reply.id, [...(byId.get(reply.id) ?? []), reply]);
    }
    for (const wake of waiters.splice(0)) wake();
  });
  const replies = (id: number) => byId.get(id) ?? [];
  return {
    socket,
    send: (message) => socket.write(encodeFrame(message)),
    replies,
    refusals: () => refused,
    async until(id, type) {
      for (let waited = 0; !replies(id).some((reply) => reply.type === type); waited++) {
        if (waited > 400) throw new Error(`no ${type} for command ${id}: ${JSON.stringify(replies(id))}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return replies(id);
    },
  };
}

const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

function output(replies: ServiceReply[], stream: "stdout" | "stderr"): Buffer {
  return Buffer.concat(replies.flatMap((reply) => (reply.type === "output" && reply.stream === stream ? [reply.chunk] : [])));
}

function pidOf(replies: ServiceReply[]): number {
  const spawned = replies.find((reply) => reply.type === "spawned");
  if (spawned?.type !== "spawned") throw new Error("not spawned");
  leftovers.push(spawned.pid);
  return spawned.pid;
}

describe("the spawn service", () => {
  test("keeps its socket in a directory only its user can enter", async () => {
    const { service } = await serviceAndClient();
    expect(statSync(path.dirname(service.socketPath)).mode & 0o777).toBe(0o700);
    expect(statSync(service.socketPath).mode & 0o077).toBe(0);
  });

  test.each([
    ["no secret (the request comes first)", null],
    ["a wrong secret", "0".repeat(64)],
    ["a malformed secret", "not-hex"],
  ])("a client with %s is cut off before anything runs", async (_, token) => {
    const { service } = await serviceAndClient();
    const dir = await tempDir();
    const client = await connectClient(service, token);
    const closed = new Promise((resolve) => client.socket.once("close", resolve));
    client.send({ type: "spawn", id: 1, file: "sh", args: ["-c", "touch escaped"], cwd: dir, env: ENV, dieWithParent: false });
    await closed;
    expect(client.replies(1)).toEqual([]);
    expect(existsSync(path.join(dir, "escaped"))).toBe(false);
  });

  test("runs a command in its own process group and streams its output, binary bytes intact", async () => {
    const { client } = await serviceAndClient();
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const dir = await tempDir();
    await writeFile(path.join(dir, "bytes"), bytes);
    client.send({ type: "spawn", id: 1, file: "sh", args: ["-c", "cat bytes; echo oops >&2; echo $$ $(ps -o pgid= -p $$) >&2; exit 3"], cwd: dir, env: ENV, dieWithParent: true });
    const replies = await client.until(1, "close");
    const pid = pidOf(replies);

    expect(output(replies, "stdout").equals(bytes)).toBe(true);
    expect(output(replies, "stderr").toString().split("\n")[0]).toBe("oops");
    expect(output(replies, "stderr").toString().split("\n")[1]?.trim().split(/\s+/)).toEqual([String(pid), String(pid)]);
    expect(replies.filter((reply) => reply.type === "exit" || reply.type === "close").map((reply) => reply.type)).toEqual(["exit", "close"]);
    expect(replies.at(-1)).toEqual({ type: "close", id: 1, code: 3, signal: null });
  });

  test("runs many commands at once on one connection", async () => {
    const { client } = await serviceAndClient();
    const ids = Array.from({ length: 20 }, (_, i) => i + 100);
    for (const id of ids) client.send({ type: "spawn", id, file: "sh", args: ["-c", `printf %s ${id}; exit $((${id} % 7))`], cwd: tmpdir(), env: ENV, dieWithParent: true });
    for (const id of ids) {
      const replies = await client.until(id, "close");
      expect(output(replies, "stdout").toString()).toBe(String(id));
      expect(replies.at(-1)).toMatchObject({ type: "close", code: id % 7 });
    }
  });

  test("reports spawn failures with the errno code child_process would give", async () => {
    const { client } = await serviceAndClient();
    const dir = await tempDir();
    const script = path.join(dir, "not-executable");
    await writeFile(script, "#!/bin/sh\n");
    chmodSync(script, 0o644);
    client.send({ type: "spawn", id: 1, file: "definitely-not-a-command-llmx", args: [], cwd: dir, env: ENV, dieWithParent: true });
    client.send({ type: "spawn", id: 2, file: script, args: [], cwd: dir, env: ENV, dieWithParent: true });
    client.send({ type: "spawn", id: 3, file: "true", args: [], cwd: path.join(dir, "missing"), env: ENV, dieWithParent: true });
    expect((await client.until(1, "error")).at(-1)).toMatchObject({ type: "error", code: "ENOENT" });
    expect((await client.until(2, "error")).at(-1)).toMatchObject({ type: "error", code: "EACCES" });
    expect((await client.until(3, "error")).at(-1)).toMatchObject({ type: "error", code: "ENOENT" });
  });

  test("refuses malformed requests without running anything", async () => {
    const { client } = await serviceAndClient();
    client.send({ type: "spawn", id: 1, file: "true", args: [], cwd: "relative/dir", env: ENV, dieWithParent: true });
    client.send({ type: "spawn", id: 2, file: "true", args: ["a\0b"], cwd: "/", env: ENV, dieWithParent: true });
    client.send({ type: "spawn", id: 3, file: "true", args: [42], cwd: "/", env: ENV, dieWithParent: true });
    client.send({ type: "spawn", id: 4, file: "true", args: [], cwd: "/", env: { PATH: 1 }, dieWithParent: true });
    client.send({ type: "launch-missiles" });
    for (const id of [1, 2, 3, 4]) expect((await client.until(id, "error")).at(-1)).toMatchObject({ type: "error", code: "EINVAL" });
    expect(await eventually(() => client.refusals().length === 1)).toBe(true);
    // The connection still works.
    client.send({ type: "spawn", id: 5, file: "true", args: [], cwd: "/", env: ENV, dieWithParent: true });
    expect((await client.until(5, "close")).at(-1)).toMatchObject({ code: 0 });
  });

  test("signals a command's whole process group, and only groups it started for this connection", async () => {
    const { client } = await serviceAndClient();
    client.send({ type: "spawn", id: 1, file: "sh", args: ["-c", "sleep 100 & echo $!; wait"], cwd: "/", env: ENV, dieWithParent: true });
    const pid = pidOf(await client.until(1, "output"));
    const child = Number(output(client.replies(1), "stdout").toString().trim());
    const other = await connectClient(services[0] as SpawnService);
    other.send({ type: "kill", pgid: pid, signal: "SIGKILL" });
    other.send({ type: "spawn", id: 9, file: "true", args: [], cwd: "/", env: ENV, dieWithParent: true });
    await other.until(9, "close");
    expect(isGone(child)).toBe(false);

    client.send({ type: "kill", pgid: pid, signal: "SIGTERM" });
    expect((await client.until(1, "close")).at(-1)).toMatchObject({ type: "close", signal: "SIGTERM" });
    expect(await eventually(() => isGone(child))).toBe(true);
  });

  test("kills a connection's groups when it closes, background jobs of finished commands included", async () => {
    const { service, client } = await serviceAndClient();
    const dir = await tempDir();
    client.send({ type: "spawn", id: 1, file: "sh", args: ["-c", "sleep 100"], cwd: dir, env: ENV, dieWithParent: true });
    client.send({ type: "spawn", id: 2, file: "sh", args: ["-c", "(sleep 100 >/dev/null 2>&1 & echo $! > job.pid)"], cwd: dir, env: ENV, dieWithParent: true });
    const running = pidOf(await client.until(1, "spawned"));
    pidOf(await client.until(2, "close"));
    const job = readPid(path.join(dir, "job.pid")) ?? 0;
    expect(job).toBeGreaterThan(0);
    // Another connection's commands are not affected.
    const other = await connectClient(service);
    other.send({ type: "spawn", id: 1, file: "sleep", args: ["100"], cwd: "/", env: ENV, dieWithParent: true });
    const spared = pidOf(await other.until(1, "spawned"));

    client.socket.destroy();
    expect(await eventually(() => isGone(running) && isGone(job))).toBe(true);
    expect(isProcessGroupAlive(spared)).toBe(true);
  });

  test("stops reading a command's output while the connection is backed up, and loses nothing", async () => {
    const { client } = await serviceAndClient();
    client.socket.pause();
    const total = 8 * 1024 * 1024;
    client.send({ type: "spawn", id: 1, file: "sh", args: ["-c", `head -c ${total} /dev/zero; echo done >&2`], cwd: "/", env: ENV, dieWithParent: true });
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The command is blocked on its pipe: it has not finished.
    expect(client.replies(1).some((reply) => reply.type === "exit")).toBe(false);
    client.socket.resume();
    const replies = await client.until(1, "close");
    expect(output(replies, "stdout").length).toBe(total);
    expect(output(replies, "stderr").toString()).toBe("done\n");
  });
});

describe("commands through the spawn service, from a host process (needs `npm run build`)", () => {
  /** A host: node running the compiled client, one command, printing "<command pid> <service pid>". */
  function startHost(dir: string, script: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const source = `
      const { spawnCommandProcess } = await import(${JSON.stringify(pathToFileURL(BUILT_CLIENT).href)});
      const { execFileSync } = await import("node:child_process");
      process.on("warning", (warning) => console.log("warning:", warning.message));
      const run = (label, script) => {
        const child = spawnCommandProcess("sh", ["-c", script], { cwd: ${JSON.stringify(dir)}, env: process.env, dieWithParent: true });
        child.stdout.on("data", (chunk) => process.stdout.write(chunk));
        child.once("spawn", () => {
          const parent = execFileSync("ps", ["-o", "ppid=", "-p", String(child.pid)]).toString().trim();
          console.log(label, child.pid, "parent", parent, "host", process.pid, "via-service", child.viaService);
        });
        child.once("error", (error) => console.log(label + "-error", error.code));
        child.once("close", (code) => console.log(label === "command" ? "closed" : label + "-closed", code));
      };
      run("command", ${JSON.stringify(script)});
      // Each line on stdin runs another command.
      process.stdin.on("data", () => run("again", "sleep 1"));
      setInterval(() => {}, 60000);`;
    const host = spawn(process.execPath, ["--input-type=module", "-e", source], { stdio: ["pipe", "pipe", "inherit"], env });
    hosts.push(host);
    host.stdout?.setEncoding("utf8");
    host.stdout?.on("data", (chunk: string) => printed.set(host, (printed.get(host) ?? "") + chunk));
    return host;
  }
  const printed = new Map<ChildProcess, string>();

  async function lineOf(host: ChildProcess, prefix: string): Promise<string[]> {
    const text = () => printed.get(host) ?? "";
    expect(await eventually(() => text().split("\n").some((line) => line.startsWith(prefix)), 400)).toBe(true);
    return (text().split("\n").find((line) => line.startsWith(prefix)) ?? "").split(" ");
  }

  test("a host's SIGKILL takes the service, its commands and their background jobs", async () => {
    const dir = await tempDir();
    const host = startHost(dir, "sleep 100 >/dev/null 2>&1 & echo $! > job.pid; echo ready; sleep 100");
    const [, command, , service, , hostPid, , viaService] = (await lineOf(host, "command")).map(String);
    expect(viaService).toBe("true");
    expect(service).not.toBe(hostPid); // forked by the service, not by the host
    expect(await eventually(() => readPid(path.join(dir, "job.pid")) !== undefined)).toBe(true);
    const pids = [Number(command), Number(service), readPid(path.join(dir, "job.pid")) ?? 0];
    leftovers.push(Number(command));
    expect(pids.every((pid) => pid > 1 && !isGone(pid))).toBe(true);

    host.kill("SIGKILL");
    expect(await eventually(() => pids.every(isGone))).toBe(true);
  });

  test("all threads of a host share one service, and a thread's end kills only its own commands", async () => {
    const dir = await tempDir();
    const client = JSON.stringify(pathToFileURL(BUILT_CLIENT).href);
    const threadSource = (name: string) =>
      `import(${client}).then(({ spawnCommandProcess }) => {
        const script = "echo $PPID > ${name}.parent; echo $$ > ${name}.pid; sleep 100";
        spawnCommandProcess("sh", ["-c", script], { cwd: ${JSON.stringify(dir)}, env: process.env }).stdout.resume();
      });`;
    const source = `
      import { Worker } from "node:worker_threads";
      const { shareSpawnServiceWithNewThreads } = await import(${client});
      shareSpawnServiceWithNewThreads();
      const threads = ${JSON.stringify(["a", "b", "c"].map(threadSource))}.map((code) => new Worker(code, { eval: true }));
      process.stdin.once("data", () => void threads[0].terminate());
      setInterval(() => {}, 60000);`;
    const host = spawn(process.execPath, ["--input-type=module", "-e", source], { stdio: ["pipe", "ignore", "inherit"] });
    hosts.push(host);
    const names = ["a", "b", "c"];
    const files = names.flatMap((name) => [`${name}.pid`, `${name}.parent`].map((file) => path.join(dir, file)));
    expect(await eventually(() => files.every((file) => readPid(file) !== undefined), 400)).toBe(true);
    const [a = 0, b = 0, c = 0] = names.map((name) => readPid(path.join(dir, `${name}.pid`)) ?? 0);
    leftovers.push(a, b, c);
    const parents = new Set(names.map((name) => readPid(path.join(dir, `${name}.parent`))));
    expect(parents.size).toBe(1);
    expect(parents.has(host.pid)).toBe(false);

    host.stdin?.write("go\n");
    expect(await eventually(() => isGone(a))).toBe(true);
    expect([isGone(b), isGone(c)]).toEqual([false, false]);
  });

  test("a command dies with the service if the service itself is SIGKILLed, and the next command starts another", async () => {
    const dir = await tempDir();
    const host = startHost(dir, "echo ready; sleep 100");
    const [, command, , service] = await lineOf(host, "command");
    leftovers.push(Number(command));
    expect(isGone(Number(command))).toBe(false);
    process.kill(Number(service), "SIGKILL");
    expect(await eventually(() => isGone(Number(command)))).toBe(true);
    // The host saw its command end (killed), and is still alive.
    expect((await lineOf(host, "closed")).length).toBe(2);
    expect(host.exitCode).toBe(null);

    host.stdin?.write("again\n");
    const [, , , parent, , , , viaService] = await lineOf(host, "again");
    expect(viaService).toBe("true");
    expect(parent).not.toBe(service);
    expect(await lineOf(host, "again-closed")).toEqual(["again-closed", "0"]);
    host.kill("SIGTERM");
    expect(await eventually(() => isGone(Number(parent)))).toBe(true);
  });

  test("a hung service (stopped) is given up at the confirmation deadline: its commands are killed, the unconfirmed one fails, and the next command starts a new service", async () => {
    const dir = await tempDir();
    const host = startHost(dir, "echo ready; sleep 100", { ...process.env, LLMX_SPAWN_CONFIRM_MS: "500" });
    const [, command, , service] = await lineOf(host, "command");
    leftovers.push(Number(command));
    process.kill(Number(service), "SIGSTOP");
    try {
      host.stdin?.write("again\n");
      // Not run again elsewhere, and not left waiting: it fails, and the command the service had started is killed.
      expect(await lineOf(host, "again-error")).toEqual(["again-error", "ETIMEDOUT"]);
      expect(await lineOf(host, "again-closed")).toEqual(["again-closed", "-1"]);
      expect(await lineOf(host, "closed")).toEqual(["closed", "null"]);
      expect(await eventually(() => isGone(Number(command)))).toBe(true);

      host.stdin?.write("again\n");
      const [, , , parent, , , , viaService] = await lineOf(host, "again ");
      expect(viaService).toBe("true");
      expect(parent).not.toBe(service);
      leftovers.push(Number(parent));
    } finally {
      process.kill(Number(service), "SIGKILL");
      process.kill(Number(service), "SIGCONT");
    }
  });

  test("falls back to spawning directly, with a warning, when the service cannot start", async () => {
    const dir = await tempDir();
    const host = startHost(dir, "echo ran", { ...process.env, TMPDIR: path.join(dir, "no-such-dir") });
    const warning = await lineOf(host, "warning:");
    expect(warning.join(" ")).toContain("spawn service is unavailable");
    const [, , , parent, , hostPid, , viaService] = await lineOf(host, "command");
    expect(viaService).toBe("false");
    expect(parent).toBe(hostPid);
    expect(await lineOf(host, "closed")).toEqual(["closed", "0"]);
  });
});
