// @openai/codex-sdk drives llmx in place of the Codex binary (its codexPathOverride option), against the
// local mock model over HTTP: proof that `llmx exec --json` speaks the stream the SDK parses.
import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockModelServer, type MockModelServer } from "../../src/mock-model/index.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CACHE = path.join(ROOT, ".cache/interop");
const SDK_VERSION = "0.163.0";

type SdkItem = { type: string; text?: string; aggregated_output?: string; status?: string };
type SdkInput = string | ({ type: "text"; text: string } | { type: "local_image"; path: string })[];
type SdkThread = {
  id: string | null;
  run(input: SdkInput, options?: { outputSchema?: unknown }): Promise<{ finalResponse: string; items: SdkItem[] }>;
};
type SdkModule = {
  Codex: new (options: { codexPathOverride?: string; env: Record<string, string> }) => {
    startThread(options: Record<string, unknown>): SdkThread;
    resumeThread(id: string, options: Record<string, unknown>): SdkThread;
  };
};

async function loadSdk(): Promise<SdkModule> {
  const entry = path.join(CACHE, "node_modules/@openai/codex-sdk/dist/index.js");
  if (!existsSync(entry)) {
    await mkdir(CACHE, { recursive: true });
    // The SDK depends on the Codex CLI package; its native binaries are optional and not needed here.
    execFileSync(
      "npm",
      ["install", "--prefix", CACHE, `@openai/codex-sdk@${SDK_VERSION}`, "--omit=optional", "--no-audit", "--no-fund", "--no-save"],
      { stdio: "inherit", timeout: 600_000 },
    );
  }
  return (await import(pathToFileURL(entry).href)) as SdkModule;
}

describe("@openai/codex-sdk over llmx", () => {
  let server: MockModelServer;
  let work: string;
  let sdk: SdkModule;
  let llmx: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    sdk = await loadSdk();
    server = await startMockModelServer();
    work = await mkdtemp(path.join(tmpdir(), "llmx-interop-"));
    const home = path.join(work, "home");
    await mkdir(home, { recursive: true });
    await writeFile(
      path.join(home, "config.toml"),
      `model = "mock-model"\nmodel_provider = "mock"\n\n[model_providers.mock]\nname = "Mock"\nbase_url = "${server.url}"\nwire_api = "responses"\n`,
    );
    llmx = path.join(work, "llmx");
    await writeFile(llmx, `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, "dist/src/cli/main.js")}" "$@"\n`);
    await chmod(llmx, 0o755);
    env = { ...(process.env as Record<string, string>), LLMX_HOME: home };
  });

  afterAll(async () => {
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("runs a thread with a shell tool call, then continues it with a second turn", async () => {
    const codex = new sdk.Codex({ codexPathOverride: llmx, env });
    const options = { workingDirectory: work, skipGitRepoCheck: true, approvalPolicy: "never", sandboxMode: "danger-full-access" };
    const thread = codex.startThread(options);

    const first = await thread.run("Please RUNSHELL: echo interop");
    expect(first.finalResponse).toBe("Tool said: interop");
    expect(first.items).toContainEqual(
      expect.objectContaining({ type: "command_execution", aggregated_output: "interop\n", status: "completed" }),
    );
    expect(thread.id).toMatch(/^[0-9a-f-]{36}$/);

    const second = await thread.run("And now a plain answer.");
    expect(second.finalResponse).toMatch(/^Hello from mock, reply #\d+$/);

    const resumed = codex.resumeThread(thread.id ?? "", options);
    const third = await resumed.run("One more.");
    expect(third.finalResponse).toMatch(/^Hello from mock, reply #\d+$/);
  });

  it("drives the built CLI entry itself with an output schema, an image and additional directories", async () => {
    const entry = path.join(ROOT, "dist/src/cli/main.js");
    // The entry is executable after a build: the SDK spawns it directly.
    expect(statSync(entry).mode & 0o111).not.toBe(0);
    const codex = new sdk.Codex({ codexPathOverride: entry, env });
    const extra = path.join(work, "extra");
    await mkdir(extra, { recursive: true });
    const image = path.join(work, "pixel.png");
    await writeFile(image, Buffer.from(PNG_1X1, "base64"));
    const thread = codex.startThread({
      workingDirectory: work,
      skipGitRepoCheck: true,
      approvalPolicy: "never",
      sandboxMode: "workspace-write",
      additionalDirectories: [extra],
    });
    const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"], additionalProperties: false };
    const before = server.requests.length;
    const result = await thread.run(
      [
        { type: "text", text: "What is in this picture?" },
        { type: "local_image", path: image },
      ],
      { outputSchema: schema },
    );
    expect(result.finalResponse).toMatch(/^Hello from mock, reply #\d+$/);
    const body = JSON.stringify(server.requests.slice(before).map((request) => request.body));
    expect(body).toContain('"json_schema"');
    expect(body).toContain('"additionalProperties":false');
    expect(body).toContain('"image_url":"data:image/png;base64,');
  });
});

/** A 1x1 transparent PNG. */
const PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
