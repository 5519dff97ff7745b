// The llmx command line, run as a user runs it: a child process on the built CLI, real homes, the mock model.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { promptForApproval } from "../src/cli/approval-prompt.js";
import { startMockModelServer, type MockModelServer } from "../src/mock-model/index.js";
import { CLI, FIXTURES, mockConfigToml, useRuntime } from "./helpers.js";

const run = promisify(execFile);
const runtime = useRuntime();
let server: MockModelServer;

beforeAll(async () => {
  server = await startMockModelServer();
});
afterAll(async () => {
  await server.close();
});

async function llmx(home: string, args: string[], input?: string) {
  const child = run(process.execPath, [CLI, ...args], {
    cwd: home,
    env: { ...process.env, LLMX_HOME: home, HOME: home },
    timeout: 30_000,
  });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  } else {
    child.child.stdin?.end();
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function mockHome(): Promise<string> {
  const home = await runtime.home();
  await writeFile(path.join(home, "config.toml"), mockConfigToml(server.url));
  return home;
}

const lines = (stdout: string) => stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);

describe("llmx exec", () => {
  it("runs the offline model with no configuration and prints the reply", async () => {
    const home = await runtime.home();
    const result = await llmx(home, ["exec", "hello"]);
    expect(result).toMatchObject({ code: 0, stdout: 'Offline reply #1: you said "hello".\n' });
  });

  it("reads the prompt from standard input when none is given", async () => {
    const home = await runtime.home();
    const result = await llmx(home, ["exec"], "from stdin\n");
    expect(result.stdout).toBe('Offline reply #1: you said "from stdin".\n');
  });

  it("--json prints the events `codex exec --json` prints, in the same order", async () => {
    const home = await mockHome();
    const result = await llmx(home, ["exec", "--json", "--full-auto", "Please RUNSHELL: echo hi"]);
    expect(result.code).toBe(0);
    const ours = lines(result.stdout);
    const codex = lines(await readFile(path.join(FIXTURES, "codex-rollouts/wire/exec-json-stdout-b.jsonl"), "utf8"));
    const shape = (event: Record<string, unknown>) => {
      const item = event.item as Record<string, unknown> | undefined;
      return item ? `${String(event.type)}:${String(item.type)}:${String(item.status ?? "")}` : String(event.type);
    };
    expect(ours.map(shape)).toEqual(codex.map(shape));
    expect(ours.at(-2)).toMatchObject({ type: "item.completed", item: { type: "agent_message", text: "Tool said: hi" } });
    expect(ours[2]).toMatchObject({ item: { command: "bash -lc 'echo hi'", status: "in_progress" } });
    expect(ours[3]).toMatchObject({ item: { aggregated_output: "hi\n", exit_code: 0, status: "completed" } });
    expect(Object.keys(ours.at(-1)?.usage as object).sort()).toEqual(Object.keys(codex.at(-1)?.usage as object).sort());
  });

  it("fails with exit code 1 and a clear message when the provider rejects the key", async () => {
    const home = await mockHome();
    const result = await llmx(home, ["exec", "MOCK_401 hello"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/API key/);
  });

  it("denies a command that needs approval when nobody can be asked", async () => {
    const home = await mockHome();
    const result = await llmx(home, ["exec", "-a", "untrusted", "RUNSHELL: touch should-not-exist"]);
    expect(result.stdout).toBe("Tool said: exec command rejected by user\n");
    expect(result.stderr).toMatch(/denied/);
  });

  it("runs the README's sub-agent demo: a sub-agent does not count against the CLI's one conversation", async () => {
    const home = await mockHome();
    const result = await llmx(home, ["exec", "--full-auto", "DELEGATE: RUNSHELL: echo hi"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("Tool said: Tool said: hi\n");
  });

  it("refuses a working directory that does not exist, before starting anything", async () => {
    const home = await runtime.home();
    const result = await llmx(home, ["exec", "-C", path.join(home, "nowhere"), "hi"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/does not exist/);
    expect(existsSync(path.join(home, "sessions"))).toBe(false);
  });

  it("-o writes the last message to a file, as codex exec does", async () => {
    const home = await runtime.home();
    const out = path.join(home, "last.txt");
    const result = await llmx(home, ["exec", "-o", out, "hello"]);
    expect(result.code).toBe(0);
    expect(await readFile(out, "utf8")).toBe(result.stdout.trim());
  });

  it("--add-dir lets workspace-write commands write one more directory, and only with it", async () => {
    const home = await mockHome();
    const other = await runtime.home();
    const touch = (name: string) => `RUNSHELL: touch ${path.join(other, name)}; echo done`;
    // Both directories live in the temp dir, which workspace-write would otherwise let commands write.
    const sandbox = ["-s", "workspace-write", "-a", "never", "-c", "sandbox_workspace_write.exclude_slash_tmp=true"];
    sandbox.push("-c", "sandbox_workspace_write.exclude_tmpdir_env_var=true");
    await llmx(home, ["exec", ...sandbox, touch("without.txt")]);
    await llmx(home, ["exec", ...sandbox, "--add-dir", other, touch("with.txt")]);
    expect(existsSync(path.join(other, "without.txt"))).toBe(false);
    expect(existsSync(path.join(other, "with.txt"))).toBe(true);
  });

  it("rejects an unknown provider before starting anything", async () => {
    const home = await runtime.home();
    const result = await llmx(home, ["exec", "--provider", "nowhere", "hi"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/unknown model provider "nowhere"/);
  });
});

describe("llmx sessions, resume and fork", () => {
  it("lists sessions newest first, resumes one by id and forks one before a user message", async () => {
    const home = await runtime.home();
    await llmx(home, ["exec", "first session"]);
    await llmx(home, ["exec", "second session"]);
    const listed = (await llmx(home, ["sessions", "--json"])).stdout.trim().split("\n").map((line) => JSON.parse(line) as { conversationId: string; preview: string });
    expect(listed.map((entry) => entry.preview)).toEqual(["second session", "first session"]);

    const id = listed[1]?.conversationId ?? "";
    expect((await llmx(home, ["resume", id, "more"])).stdout).toBe('Offline reply #2: you said "more".\n');
    expect((await llmx(home, ["exec", "resume", id, "even more"])).stdout).toBe('Offline reply #3: you said "even more".\n');
    expect((await llmx(home, ["fork", id, "--nth", "1", "instead"])).stdout).toBe('Offline reply #2: you said "instead".\n');
    expect((await llmx(home, ["sessions", "--json"])).stdout.trim().split("\n")).toHaveLength(3);
  });

  it("resume --last continues the most recently updated session", async () => {
    const home = await runtime.home();
    await llmx(home, ["exec", "first session"]);
    await llmx(home, ["exec", "second session"]);
    const listed = (await llmx(home, ["sessions", "--json"])).stdout.trim().split("\n").map((line) => JSON.parse(line) as { conversationId: string });
    const first = listed[1]?.conversationId ?? "";
    expect((await llmx(home, ["resume", first, "more"])).stdout).toBe('Offline reply #2: you said "more".\n');
    expect((await llmx(home, ["resume", "--last", "again"])).stdout).toBe('Offline reply #3: you said "again".\n');
    expect((await llmx(home, ["exec", "resume", "--last", "and again"])).stdout).toBe('Offline reply #4: you said "and again".\n');
    const none = await llmx(await runtime.home(), ["resume", "--last", "hi"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no session to resume/);
  });

  it("refuses to resume a session another live process holds, naming it and appending nothing, until it is gone", async () => {
    const home = await runtime.home();
    await llmx(home, ["exec", "first session"]);
    const [session] = (await llmx(home, ["sessions", "--json"])).stdout.trim().split("\n").map((line) => JSON.parse(line) as { conversationId: string; path: string });
    const { conversationId: id, path: file } = session ?? { conversationId: "", path: "" };
    const before = await readFile(file);
    const other = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await once(other, "spawn");
      await writeFile(`${file}.lock`, `${other.pid}\n`);
      const refused = await llmx(home, ["resume", id, "more"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`llmx: conversation ${id} is in use by another process (pid ${other.pid}), which holds its lock file ${file}.lock`);
      expect(refused.stderr).not.toMatch(/crashed/);
      expect(refused.stdout).toBe("");
      expect(await readFile(file)).toEqual(before);
    } finally {
      const exited = once(other, "exit");
      other.kill("SIGKILL");
      await exited;
    }
    expect((await llmx(home, ["resume", id, "more"])).stdout).toBe('Offline reply #2: you said "more".\n');
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it("refuses to resume a file whose name is not the conversation it holds", async () => {
    const home = await runtime.home();
    await llmx(home, ["exec", "first session"]);
    const [session] = (await llmx(home, ["sessions", "--json"])).stdout.trim().split("\n").map((line) => JSON.parse(line) as { conversationId: string; path: string });
    const { conversationId: id, path: file } = session ?? { conversationId: "", path: "" };
    const otherId = "01a20000-0000-7000-8000-000000000001";
    const copy = file.replace(id, otherId);
    await copyFile(file, copy);
    const result = await llmx(home, ["resume", otherId, "more"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`is named for conversation ${otherId} but its session_meta is conversation ${id}`);
  });

  it("names a session that does not exist", async () => {
    const home = await runtime.home();
    const result = await llmx(home, ["resume", "01a20000-0000-7000-8000-000000000000", "hi"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no session with id 01a20000-0000-7000-8000-000000000000/);
  });
});

describe("llmx sandbox", () => {
  /** Runs `llmx sandbox` with its home as LLMX_HOME, in `workspace` (-C), with extra environment variables. */
  async function sandbox(home: string, workspace: string, args: string[], env: Record<string, string> = {}) {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, "sandbox", "-C", workspace, ...args], {
        cwd: workspace,
        env: { ...process.env, LLMX_HOME: home, ...env },
        timeout: 30_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  it("runs the command read-only by default and exits with its exit code", async () => {
    const [home, workspace] = [await runtime.home(), await runtime.home()];
    const result = await sandbox(home, workspace, ["--", "sh", "-c", "touch made; echo touch=$?; exit 3"]);
    expect(result).toMatchObject({ code: 3, stdout: "touch=1\n" });
    expect(result.stderr).toContain("Read-only file system");
    expect(existsSync(path.join(workspace, "made"))).toBe(false);
  });

  it("--mode workspace-write writes the workspace and --add-dir directories only; the llmx home stays hidden", async () => {
    const [home, workspace, added, outside] = [await runtime.home(), await runtime.home(), await runtime.home(), await runtime.home()];
    await writeFile(path.join(home, "auth.json"), "{}");
    const script = `touch made ${added}/added ${outside}/outside; ls -A ${home}; echo listed`;
    const args = ["--mode", "workspace-write", "--add-dir", added, "-c", "sandbox_workspace_write.exclude_slash_tmp=true"];
    const result = await sandbox(home, workspace, [...args, "--", "sh", "-c", script]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("listed\n");
    expect(existsSync(path.join(workspace, "made"))).toBe(true);
    expect(existsSync(path.join(added, "added"))).toBe(true);
    expect(existsSync(path.join(outside, "outside"))).toBe(false);
  });

  it("gives the command the configured environment: secrets removed, [shell_environment_policy] set applied", async () => {
    const [home, workspace] = [await runtime.home(), await runtime.home()];
    await writeFile(path.join(home, "config.toml"), `[shell_environment_policy]\nset = { ADDED = "yes" }\n`);
    const result = await sandbox(home, workspace, ["--mode", "danger-full-access", "--", "env"], { OPENAI_API_KEY: "sk-x", KEPT: "1" });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("ADDED=yes\n");
    expect(result.stdout).toContain("KEPT=1\n");
    expect(result.stdout).not.toContain("OPENAI_API_KEY");
  });

  it("refuses --add-dir outside workspace-write", async () => {
    const [home, workspace] = [await runtime.home(), await runtime.home()];
    const result = await sandbox(home, workspace, ["--add-dir", workspace, "--", "true"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("--add-dir needs the workspace-write mode");
  });
});

describe("the approval prompt", () => {
  it.each([
    ["y", "approved"],
    ["a", "approved_for_session"],
    ["n", "denied"],
    ["q", "abort"],
  ] as const)("answer %s means %s, after asking again on anything else", async (answer, decision) => {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = "";
    output.on("data", (chunk: Buffer) => (shown += chunk.toString()));
    const pending = promptForApproval(
      { type: "exec_approval_request", call_id: "c1", command: ["bash", "-lc", "rm -rf build"], cwd: "/repo", parsed_cmd: [] },
      input,
      output,
    );
    input.write("maybe\n");
    input.write(`${answer}\n`);
    await expect(pending).resolves.toBe(decision);
    expect(shown).toContain("bash -lc 'rm -rf build'");
  });
});
