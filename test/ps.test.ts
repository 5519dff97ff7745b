// `llmx ps` against stand-in hosts: a control socket in this process answering `initialize` and
// `llmx/supervision/list` with a canned tree (the real server is not needed to test the client), a host that
// never answers, one that answers with an error, and no host at all. The CLI runs from dist/ as a user runs it.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import type { Connection } from "../src/app-server/connection.js";
import { startControlSocket } from "../src/app-server/control-socket.js";
import { formatReports, type HostReport, type SupervisionNode } from "../src/cli/ps.js";

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist/src/cli/main.js");

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempHome(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "llmx-ps-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `llmx ps ...`; resolves with its exit code and output whatever the code. */
function ps(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, "ps", ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
    });
  });
}

type Request = { id?: number; method: string; params?: unknown };

/** A control socket in this process; `answer` gives the reply to each request (undefined: never answer). */
async function standInHost(home: string, answer: (request: Request) => object | undefined) {
  const seen: string[] = [];
  const control = await startControlSocket(
    home,
    (connection: Connection) => {
      connection.onMessage((text) => {
        const request = JSON.parse(text) as Request;
        seen.push(request.method);
        if (request.id === undefined) return;
        const reply = answer(request);
        if (reply !== undefined) connection.send(JSON.stringify({ id: request.id, ...reply }));
      });
    },
    { listen: "ws://127.0.0.1:4500" },
  );
  cleanups.push(() => control.close());
  return { control, seen };
}

const NOW = Math.floor(Date.now() / 1000);

function node(threadId: string, fields: Partial<SupervisionNode> = {}): SupervisionNode {
  return {
    threadId,
    parentThreadId: null,
    state: "active",
    restarts: 0,
    model: "gpt-5-codex",
    cwd: "/work/project",
    createdAt: NOW - 7_200,
    tokens: { input: 1_000, cachedInput: 200, output: 234, total: 1_234 },
    pendingApprovals: 0,
    children: [],
    ...fields,
  };
}

const ROOT = "01a20000-0000-7000-8000-000000000001";
const CHILD = "01a20000-0000-7000-8000-000000000002";
const GRANDCHILD = "01a20000-0000-7000-8000-000000000003";
const OTHER = "01a20000-0000-7000-8000-000000000004";

const TREE: SupervisionNode[] = [
  node(ROOT, {
    restarts: 1,
    pendingApprovals: 1,
    children: [
      node(CHILD, {
        parentThreadId: ROOT,
        state: "restarting",
        restarts: 2,
        model: "gpt-5",
        tokens: null,
        children: [node(GRANDCHILD, { parentThreadId: CHILD, createdAt: NOW - 90, tokens: { input: 5, cachedInput: 0, output: 7, total: 12 } })],
      }),
    ],
  }),
  node(OTHER, { state: "failed", cwd: "/tmp/elsewhere", createdAt: NOW - 90_000 }),
];

const canned = (request: Request): object | undefined => {
  if (request.method === "initialize") return { result: { userAgent: "stand-in", codexHome: "/", platformFamily: "unix", platformOs: "linux" } };
  if (request.method === "llmx/supervision/list") return { result: { data: TREE } };
  return { error: { code: -32601, message: "Method not found" } };
};

describe("llmx ps", () => {
  test("prints each host's conversations as an aligned tree, children indented under their parents", () => {
    const report: HostReport = { pid: 4242, startedAt: NOW - 300, socket: "/h/app-server/4242.sock", listen: null, version: "0.1.0", conversations: TREE };
    expect(formatReports([report], NOW)).toBe(
      [
        "host 4242  llmx 0.1.0  up 5m  clients stdio  socket /h/app-server/4242.sock",
        "  ID                                        STATE       RESTARTS  MODEL        CWD             AGE  TOKENS  APPROVALS",
        `  ${ROOT}      active      1         gpt-5-codex  /work/project   2h   1234    1`,
        `  └ ${CHILD}    restarting  2         gpt-5        /work/project   2h   -       0`,
        `    └ ${GRANDCHILD}  active      0         gpt-5-codex  /work/project   1m   12      0`,
        `  ${OTHER}      failed      0         gpt-5-codex  /tmp/elsewhere  1d   1234    0`,
        "",
      ].join("\n"),
    );
  });

  test("asks a running host (initialize, then llmx/supervision/list) and prints its tree", async () => {
    const home = await tempHome();
    const { control, seen } = await standInHost(home, canned);
    const { code, stdout } = await ps("--home", home);
    expect(code).toBe(0);
    expect(seen).toEqual(["initialize", "initialized", "llmx/supervision/list"]);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(new RegExp(`^host ${process.pid}  llmx \\S+  up \\d+s  clients ws://127\\.0\\.0\\.1:4500  socket ${control.socketPath}$`));
    expect(lines.slice(1).map((line) => line.split(/\s+/).slice(1, 3))).toEqual([
      ["ID", "STATE"],
      [ROOT, "active"],
      ["└", CHILD],
      ["└", GRANDCHILD],
      [OTHER, "failed"],
    ]);
    // Aligned: every row's STATE column starts where the header's does.
    const stateColumn = lines[1]?.indexOf("STATE");
    expect(lines.slice(2).map((line) => line.search(/ (active|restarting|failed) /) + 1)).toEqual(Array(4).fill(stateColumn));
  });

  test("--json prints every host with its conversation tree", async () => {
    const home = await tempHome();
    const { control } = await standInHost(home, canned);
    const { code, stdout } = await ps("--home", home, "--json");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([{ ...control.host, conversations: TREE }]);
  });

  test("with no host running it says so and exits 0; --json prints []", async () => {
    const home = await tempHome();
    expect(await ps("--home", home)).toEqual({ code: 0, stdout: "no llmx app-server is running\n", stderr: "" });
    const json = await ps("--home", home, "--json");
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  test("a host file whose pid lives on in another process (its socket gone or dead) is not a host, and is removed", async () => {
    const home = await tempHome();
    const dir = path.join(home, "app-server");
    await mkdir(dir, { mode: 0o700 });
    const files: string[] = [];
    for (const socketExists of [false, true]) {
      const other = spawn("sleep", ["30"], { stdio: "ignore" });
      cleanups.push(async () => other.kill("SIGKILL"));
      await once(other, "spawn");
      const socket = path.join(dir, `${other.pid}.sock`);
      // A file where the socket was: connecting to it is refused, as to a socket nobody listens on.
      if (socketExists) await writeFile(socket, "");
      const hostFile = path.join(dir, `${other.pid}.json`);
      await writeFile(hostFile, JSON.stringify({ pid: other.pid, startedAt: NOW - 60, socket, listen: null, version: "0.1.0" }));
      files.push(socket, hostFile);
    }
    expect(await ps("--home", home)).toEqual({ code: 0, stdout: "no llmx app-server is running\n", stderr: "" });
    expect(files.filter((file) => existsSync(file))).toEqual([]);
  });

  test("a host that does not answer is reported after the deadline, not waited for (exit 1)", async () => {
    const home = await tempHome();
    await standInHost(home, () => undefined);
    const { code, stdout } = await ps("--home", home, "--timeout", "300");
    expect(code).toBe(1);
    expect(stdout).toContain(`host ${process.pid} `);
    expect(stdout).toContain(`  not answering: host ${process.pid} did not answer within 300 ms`);

    const json = await ps("--home", home, "--timeout", "300", "--json");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject([{ pid: process.pid, error: { code: "host_not_answering" } }]);
  });

  test("a host that answers with an error, or with the wrong shape, is reported as a protocol error", async () => {
    const home = await tempHome();
    await standInHost(home, (request) =>
      request.method === "initialize" ? canned(request) : { error: { code: -32601, message: "Method not found" } },
    );
    const human = await ps("--home", home);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`\n  error: host ${process.pid} answered with error -32601: Method not found\n`);
    const refused = await ps("--home", home, "--json");
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject([
      { error: { code: "host_protocol", message: `host ${process.pid} answered with error -32601: Method not found` } },
    ]);
    await Promise.all(cleanups.splice(0, 2).map((cleanup) => cleanup()));

    const other = await tempHome();
    await standInHost(other, (request) => (request.method === "initialize" ? canned(request) : { result: { data: [{ threadId: 7 }] } }));
    const malformed = await ps("--home", other, "--json");
    expect(malformed.code).toBe(1);
    expect(JSON.parse(malformed.stdout)).toMatchObject([{ error: { code: "host_protocol" } }]);
  });
});
