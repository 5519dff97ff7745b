// The llmx command line does what Codex users type: text-mode streaming, --color, --output-schema, -i, -p,
// config warnings, --ephemeral, piped stdin, fork, sessions, and a built entry that runs as a program.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { constants as fsConstants } from "node:fs";
import { access, readFile, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockModelServer, type MockModelServer } from "../src/mock-model/index.js";
import { CLI, mockConfigToml, useRuntime } from "./helpers.js";

const run = promisify(execFile);
const runtime = useRuntime();
let server: MockModelServer;

beforeAll(async () => {
  server = await startMockModelServer();
});
afterAll(async () => {
  await server.close();
});

type Result = { code: number; stdout: string; stderr: string };

async function llmx(home: string, args: string[], input = "", env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const child = run(process.execPath, [CLI, ...args], {
    cwd: home,
    env: { ...process.env, LLMX_HOME: home, HOME: home, ...env },
    timeout: 30_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  child.child.stdin?.end(input);
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function mockHome(extra = "", wireApi = "responses"): Promise<string> {
  const home = await runtime.home();
  await writeFile(path.join(home, "config.toml"), mockConfigToml(server.url, extra, wireApi));
  return home;
}

type Body = Record<string, unknown> & { input?: { type?: string; role?: string; content?: { type: string; text?: string; image_url?: string }[] }[] };
const lastBody = (): Body => server.requests.at(-1)?.body as Body;
/** The content parts of the last user message of the last request to the Responses API. */
const lastUserContent = () => lastBody().input?.findLast((item) => item.role === "user")?.content ?? [];

const rolloutFiles = async (home: string): Promise<string[]> =>
  (await readdir(path.join(home, "sessions"), { recursive: true }).catch(() => [] as string[])).filter((name) => name.endsWith(".jsonl"));

/** 1×1 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

describe("llmx exec without --json: the turn as it happens on stderr, the answer on stdout", () => {
  it("streams the first words of a long reply before the turn ends; stdout holds only the answer", async () => {
    const home = await mockHome();
    const child = spawn(process.execPath, [CLI, "exec", "MOCK_SLOW please"], {
      cwd: home,
      env: { ...process.env, LLMX_HOME: home, HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let exited = false;
    let seenEarly: { exited: boolean; stdout: string; stderr: string } | undefined;
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (seenEarly === undefined && stderr.includes("Hello from mock")) seenEarly = { exited, stdout, stderr };
    });
    const exit = once(child, "exit").then(([code]) => {
      exited = true;
      return code as number;
    });
    expect(await exit).toBe(0);
    // The first words were on stderr while the reply still streamed: nothing on stdout, the last word not yet there.
    expect(seenEarly).toMatchObject({ exited: false, stdout: "" });
    expect(seenEarly?.stderr).not.toContain("word36");
    expect(stdout).toMatch(/^Hello from mock, reply #\d+, streamed slowly: word1 .* word36\n$/);
    expect(stderr).toMatch(/workdir: .*\nmodel: mock-model\nprovider: mock\napproval: on-request\nsandbox: read-only\n/);
    expect(stderr).toMatch(/session id: [0-9a-f-]{36}\n/);
    expect(stderr).toMatch(/tokens used\n\d+\n$/);
  });

  it("shows each command when it starts and its result when it ends", async () => {
    const home = await mockHome();
    const result = await llmx(home, ["exec", "--full-auto", "RUNSHELL: echo first; echo second"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("Tool said: second\n");
    expect(result.stderr).toContain(`exec\nbash -lc 'echo first; echo second' in ${home}\n`);
    expect(result.stderr).toMatch(/ succeeded in \d+ms:\nfirst\nsecond\n/);
  });

  it("a failing command shows its exit code and a bounded head of its output", async () => {
    const home = await mockHome();
    const result = await llmx(home, ["exec", "--full-auto", "RUNSHELL: seq 1 100; exit 3"]);
    expect(result.stderr).toMatch(/ exited 3 in \d+ms:\n1\n2\n/);
    expect(result.stderr).toContain("20\n… +80 lines");
    expect(result.stderr).not.toContain("\n21\n");
  });

  it("errors go to stderr, stdout stays empty", async () => {
    const home = await mockHome();
    const result = await llmx(home, ["exec", "MOCK_401 hello"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/ERROR: .*API key/);
  });
});

describe("--color", () => {
  it("piped output and --color never carry no escape codes; --color always styles stderr only", async () => {
    const home = await runtime.home();
    for (const args of [[], ["--color", "never"], ["--color", "auto"]]) {
      const result = await llmx(home, ["exec", ...args, "hi"]);
      expect(result.stderr).toContain("tokens used");
      expect(result.stderr + result.stdout).not.toContain("\u001b");
    }
    const colored = await llmx(home, ["exec", "--color", "always", "hi"]);
    expect(colored.stderr).toContain("\u001b[");
    expect(colored.stdout).not.toContain("\u001b");
    expect((await llmx(home, ["exec", "--color", "sometimes", "hi"])).code).toBe(1);
  });
});

describe("-a / --ask-for-approval", () => {
  it("sets the approval policy, with --approval-policy as an alias", async () => {
    const home = await runtime.home();
    expect((await llmx(home, ["exec", "-a", "never", "hi"])).stderr).toContain("approval: never\n");
    expect((await llmx(home, ["exec", "--ask-for-approval", "untrusted", "hi"])).stderr).toContain("approval: untrusted\n");
    expect((await llmx(home, ["exec", "--approval-policy", "on-failure", "hi"])).stderr).toContain("approval: on-failure\n");
  });
});

describe("--output-schema", () => {
  const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"], additionalProperties: false };

  it("sends the schema as the Responses API's text.format, strict, named as Codex names it", async () => {
    const home = await mockHome();
    const file = path.join(home, "schema.json");
    await writeFile(file, JSON.stringify(schema));
    const result = await llmx(home, ["exec", "--output-schema", file, "hi"]);
    expect(result.code).toBe(0);
    expect(lastBody().text).toEqual({ format: { type: "json_schema", name: "codex_output_schema", schema, strict: true } });
    // For this turn only: the next turn of the same session goes without it.
    await llmx(home, ["resume", "--last", "again"]);
    expect(lastBody().text).toBeUndefined();
  });

  it("sends it as Chat Completions' response_format", async () => {
    const home = await mockHome("", "chat");
    const file = path.join(home, "schema.json");
    await writeFile(file, JSON.stringify(schema));
    expect((await llmx(home, ["exec", "--output-schema", file, "hi"])).code).toBe(0);
    expect(lastBody().response_format).toEqual({
      type: "json_schema",
      json_schema: { name: "codex_output_schema", schema, strict: true },
    });
  });

  it("a missing or invalid schema file is a clear error and nothing is sent", async () => {
    const home = await mockHome();
    const before = server.requests.length;
    const missing = await llmx(home, ["exec", "--output-schema", path.join(home, "nope.json"), "hi"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--output-schema .*nope\.json does not exist/);
    await writeFile(path.join(home, "bad.json"), "{ not json");
    const bad = await llmx(home, ["exec", "--output-schema", path.join(home, "bad.json"), "hi"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad\.json is not valid JSON/);
    expect(server.requests.length).toBe(before);
    expect(await rolloutFiles(home)).toEqual([]);
  });
});

describe("-i / --image", () => {
  it("sends each image as an input_image data URL, before the text, and records it in the rollout", async () => {
    const home = await mockHome();
    for (const name of ["a.png", "b.png", "c.png"]) await writeFile(path.join(home, name), PNG);
    const result = await llmx(home, ["exec", "-i", "a.png,b.png", "--image", "c.png", "what is this?"]);
    expect(result.code).toBe(0);
    const dataUrl = `data:image/png;base64,${PNG.toString("base64")}`;
    expect(lastUserContent()).toEqual([
      { type: "input_image", image_url: dataUrl },
      { type: "input_image", image_url: dataUrl },
      { type: "input_image", image_url: dataUrl },
      { type: "input_text", text: "what is this?" },
    ]);
    const [file] = await rolloutFiles(home);
    expect(await readFile(path.join(home, "sessions", file ?? ""), "utf8")).toContain(`{"type":"input_image","image_url":"${dataUrl}"}`);
  });

  it("a missing, oversized or non-image file is a clear error and nothing is sent", async () => {
    const home = await mockHome();
    const before = server.requests.length;
    const missing = await llmx(home, ["exec", "-i", "gone.png", "hi"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/image .*gone\.png does not exist/);
    await writeFile(path.join(home, "big.png"), Buffer.concat([PNG, Buffer.alloc(20 * 1024 * 1024)]));
    const big = await llmx(home, ["exec", "-i", "big.png", "hi"]);
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(/big\.png is \d+ bytes, over the 20971520-byte limit/);
    await writeFile(path.join(home, "notes.png"), "just text");
    const text = await llmx(home, ["exec", "-i", "notes.png", "hi"]);
    expect(text.stderr).toMatch(/notes\.png is not a PNG, JPEG, GIF or WebP image/);
    expect(server.requests.length).toBe(before);
  });
});

describe("-p / --profile and config.toml", () => {
  const profiles = 'profile = "default-one"\n[profiles.default-one]\nmodel = "model-a"\n[profiles.fast]\nmodel = "model-b"\napproval_policy = "never"\n';

  it("the profile overrides top-level keys, flags override the profile, `profile` picks the default", async () => {
    const home = await mockHome(profiles);
    await llmx(home, ["exec", "hi"]);
    expect(lastBody().model).toBe("model-a");
    const fast = await llmx(home, ["exec", "-p", "fast", "hi"]);
    expect(lastBody().model).toBe("model-b");
    expect(fast.stderr).toContain("approval: never\n");
    const flags = await llmx(home, ["exec", "--profile", "fast", "-m", "model-c", "-a", "untrusted", "hi"]);
    expect(lastBody().model).toBe("model-c");
    expect(flags.stderr).toContain("approval: untrusted\n");
  });

  it("an unknown profile is an error naming it", async () => {
    const home = await mockHome(profiles);
    const result = await llmx(home, ["exec", "-p", "slow", "hi"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/profile "slow" not found \(known: default-one, fast\)/);
  });

  it("warns about each unknown key, naming its table, and keeps running", async () => {
    const home = await mockHome('bogus = 1\nmodel_verbosity = "low"\n[sandbox_workspace_write]\nnetwork = true\n[profiles.x]\nmodl = "y"\n');
    const result = await llmx(home, ["exec", "hi"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('unknown key "bogus" at the top level');
    expect(result.stderr).toContain('"model_verbosity" is a Codex key llmx ignores');
    expect(result.stderr).toContain('unknown key "network" in [sandbox_workspace_write]');
    expect(result.stderr).toContain('unknown key "modl" in [profiles.x]');
    expect(result.stderr).not.toMatch(/unknown key "(model|model_provider|base_url|wire_api)"/);
  });
});

describe("--ephemeral", () => {
  it("runs without writing a rollout file", async () => {
    const home = await mockHome();
    const result = await llmx(home, ["exec", "--ephemeral", "--full-auto", "DELEGATE: say hi"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Tool said: /);
    expect(await rolloutFiles(home)).toEqual([]);
    expect((await llmx(home, ["resume", "--last", "more"])).stderr).toMatch(/no session to resume/);
  });
});

describe("piped standard input", () => {
  it("with a prompt, stdin is appended in a <stdin> block after a blank line", async () => {
    const home = await mockHome();
    expect((await llmx(home, ["exec", "summarize this"], "line one\nline two\n")).code).toBe(0);
    expect(lastUserContent()).toEqual([{ type: "input_text", text: "summarize this\n\n<stdin>\nline one\nline two\n</stdin>" }]);
    await llmx(home, ["exec", "no newline"], "tail");
    expect(lastUserContent()).toEqual([{ type: "input_text", text: "no newline\n\n<stdin>\ntail\n</stdin>" }]);
    await llmx(home, ["exec", "alone"], "");
    expect(lastUserContent()).toEqual([{ type: "input_text", text: "alone" }]);
  });

  it("`-` or no prompt reads the prompt from stdin", async () => {
    const home = await mockHome();
    await llmx(home, ["exec", "-"], "the prompt\n");
    expect(lastUserContent()).toEqual([{ type: "input_text", text: "the prompt" }]);
    await llmx(home, ["exec"], "another prompt");
    expect(lastUserContent()).toEqual([{ type: "input_text", text: "another prompt" }]);
  });
});

describe("fork", () => {
  it("forks the whole session without --nth; an --nth past the last user message names how many there are", async () => {
    const home = await runtime.home();
    await llmx(home, ["exec", "one"]);
    const [session] = await rolloutFiles(home);
    const file = path.join(home, "sessions", session ?? "");
    await llmx(home, ["resume", file, "two"]);
    const whole = await llmx(home, ["fork", file, "three"]);
    expect(whole.stdout).toBe('Offline reply #3: you said "three".\n');
    const bad = await llmx(home, ["fork", file, "--nth", "2", "x"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/the session has 2 user messages/);
    expect((await llmx(home, ["fork", file, "--nth", "1", "y"])).stdout).toBe('Offline reply #2: you said "y".\n');
  });
});

describe("llmx sessions", () => {
  type Listed = { conversationId: string; updatedAt: string; preview: string; parentId?: string };
  const listed = async (home: string, args: string[] = []): Promise<Listed[]> =>
    (await llmx(home, ["sessions", "--json", ...args])).stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Listed);

  it("sorts by last update, pages, hides sub-agents unless --all, and prints a table", async () => {
    const home = await mockHome();
    await llmx(home, ["exec", "first"]);
    await llmx(home, ["exec", "--full-auto", "DELEGATE: say hi"]);
    const [delegating, first] = await listed(home);
    expect([delegating?.preview, first?.preview]).toEqual(["DELEGATE: say hi", "first"]);
    // Resuming the older session makes it the most recently updated.
    await llmx(home, ["resume", first?.conversationId ?? "", "later"]);
    expect((await listed(home)).map((entry) => entry.preview)).toEqual(["first", "DELEGATE: say hi"]);
    expect((await listed(home, ["--limit", "1", "--page", "2"])).map((entry) => entry.preview)).toEqual(["DELEGATE: say hi"]);
    const all = await listed(home, ["--all"]);
    expect(all).toHaveLength(3);
    expect(all.find((entry) => entry.parentId !== undefined)?.parentId).toBe(delegating?.conversationId);

    const table = (await llmx(home, ["sessions", "--all"])).stdout.split("\n");
    expect(table[0]).toMatch(/^ID +UPDATED +CWD +SOURCE +PARENT +FIRST PROMPT$/);
    expect(table[1]).toMatch(new RegExp(`^${first?.conversationId} +\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z +\\S+ +exec +first$`));
    expect(table.some((row) => row.includes(` subagent  ${delegating?.conversationId}`))).toBe(true);
  });
});

describe("the built CLI", () => {
  it("is an executable program with a node shebang", async () => {
    const info = await stat(CLI);
    expect(info.mode & 0o111).not.toBe(0);
    await access(CLI, fsConstants.X_OK);
    expect((await readFile(CLI, "utf8")).startsWith("#!/usr/bin/env node\n")).toBe(true);
    const { stdout } = await run(CLI, ["--version"], { timeout: 30_000 });
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
