// config.toml and command-line overrides resolve into the configuration a conversation runs with.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { applyRawOverrides } from "../src/config-file.js";
import { InvalidConfigError, loadConfig, parseConfigToml } from "../src/index.js";
import { useRuntime } from "./helpers.js";

const runtime = useRuntime();

async function homeWith(toml: string): Promise<string> {
  const home = await runtime.home();
  await writeFile(path.join(home, "config.toml"), toml);
  return home;
}

describe("loadConfig", () => {
  it("defaults to the offline model with no config file", async () => {
    const home = await runtime.home();
    const config = await loadConfig({ home, cwd: home });
    expect(config).toMatchObject({
      home,
      cwd: home,
      model: "llmx-offline",
      modelProvider: "offline",
      approvalPolicy: "on-request",
      sandboxPolicy: { mode: "read-only" },
    });
    expect(config.provider).toBeUndefined();
  });

  it("reads a provider table like Codex's", async () => {
    const home = await homeWith(`
model = "qwen3"
model_provider = "local"
approval_policy = "untrusted"
model_reasoning_effort = "high"

[model_providers.local]
name = "Local vLLM"
base_url = "http://127.0.0.1:8000/v1/"
wire_api = "chat"
env_key = "LOCAL_KEY"
stream_max_retries = 2
stream_idle_timeout_ms = 5000
http_headers = { "X-Team" = "llmx" }
`);
    const config = await loadConfig({ home });
    expect(config).toMatchObject({ model: "qwen3", modelProvider: "local", approvalPolicy: "untrusted", reasoningEffort: "high" });
    expect(config.provider).toEqual({
      id: "local",
      name: "Local vLLM",
      baseUrl: "http://127.0.0.1:8000/v1",
      wireApi: "chat",
      envKey: "LOCAL_KEY",
      httpHeaders: { "X-Team": "llmx" },
      requestMaxRetries: 4,
      streamMaxRetries: 2,
      streamIdleTimeoutMs: 5000,
    });
  });

  it("lets flags and --config key=value overrides win over the file", async () => {
    const home = await homeWith(`model = "a"\napproval_policy = "never"\nsandbox_mode = "read-only"\n`);
    const config = await loadConfig({
      home,
      model: "b",
      approvalPolicy: "on-request",
      rawOverrides: ['sandbox_mode="workspace-write"', "sandbox_workspace_write.network_access=true", "model_provider=openai"],
    });
    expect(config).toMatchObject({
      model: "b",
      approvalPolicy: "on-request",
      modelProvider: "openai",
      sandboxPolicy: { mode: "workspace-write", network_access: true },
    });
    expect(config.provider).toMatchObject({ id: "openai", baseUrl: "https://api.openai.com/v1", envKey: "OPENAI_API_KEY" });
  });

  it.each([
    ["an unknown provider", `model_provider = "nowhere"`, /unknown model provider "nowhere"/],
    ["invalid TOML", `model = `, /not valid TOML/],
    ["a bad value", `approval_policy = "sometimes"`, /approval_policy/],
  ])("rejects %s with InvalidConfigError", async (_name, toml, message) => {
    const home = await homeWith(toml);
    const error = await loadConfig({ home }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as Error).message).toMatch(message);
  });

  it("reads the sub-agent limits from [agents]", async () => {
    const home = await homeWith(`[agents]\nmax_depth = 2\nmax_threads = 4\n`);
    expect(await loadConfig({ home })).toMatchObject({ maxSubagentDepth: 2, maxSubagents: 4 });
  });

  it("reads [sandbox_workspace_write] into the workspace-write policy, writable_roots from the llmx home", async () => {
    const home = await homeWith(`
sandbox_mode = "workspace-write"
[sandbox_workspace_write]
writable_roots = ["/srv/cache", "relative"]
network_access = true
exclude_tmpdir_env_var = true
exclude_slash_tmp = false
`);
    expect((await loadConfig({ home })).sandboxPolicy).toEqual({
      mode: "workspace-write",
      network_access: true,
      writable_roots: ["/srv/cache", path.join(home, "relative")],
      exclude_tmpdir_env_var: true,
      exclude_slash_tmp: false,
    });
    expect((await loadConfig({ home, sandboxMode: "read-only" })).sandboxPolicy).toEqual({ mode: "read-only" });
  });

  it("reads [shell_environment_policy] with Codex's defaults for what it leaves out", async () => {
    const home = await homeWith(`
[shell_environment_policy]
inherit = "core"
exclude = ["AWS_*"]
include_only = ["PATH", "HOME", "MY_*"]
set = { MY_FLAG = "1" }
experimental_use_profile = false
`);
    expect((await loadConfig({ home })).shellEnvironmentPolicy).toEqual({
      inherit: "core",
      ignoreDefaultExcludes: false,
      exclude: ["AWS_*"],
      set: { MY_FLAG: "1" },
      includeOnly: ["PATH", "HOME", "MY_*"],
    });
    expect((await loadConfig({ home: await runtime.home() })).shellEnvironmentPolicy).toBeUndefined();
    const overridden = await loadConfig({ home, rawOverrides: ["shell_environment_policy.ignore_default_excludes=true"] });
    expect(overridden.shellEnvironmentPolicy?.ignoreDefaultExcludes).toBe(true);
    const bad = await homeWith(`[shell_environment_policy]\ninherit = "some"\n`);
    await expect(loadConfig({ home: bad })).rejects.toThrow(/shell_environment_policy/);
  });

  it("keeps keys it does not know (config files written for Codex load)", () => {
    expect(parseConfigToml(`model = "x"\n[features]\nweb_search = true\n`)).toMatchObject({ model: "x" });
  });
});

describe("reserved keys (__proto__, constructor, prototype)", () => {
  const polluted = (): boolean =>
    Object.hasOwn(Object.prototype, "polluted") || ({} as Record<string, unknown>).polluted !== undefined;
  afterEach(() => {
    // Leave nothing behind for other tests even if a case fails.
    delete (Object.prototype as Record<string, unknown>).polluted;
  });

  it.each([
    "__proto__.polluted=1",
    " __proto__ .polluted=1",
    "constructor.prototype.polluted=1",
    "model_providers.__proto__.polluted=1",
    "agents.prototype=1",
    "model_providers={__proto__={polluted=1}}",
    "sandbox_workspace_write={constructor={prototype={polluted=1}}}",
  ])("-c %s is refused and Object.prototype stays clean", async (override) => {
    const home = await runtime.home();
    const error = await loadConfig({ home, rawOverrides: [override] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as Error).message).toMatch(/^--config .*: the key ".*(__proto__|constructor|prototype).*" is not allowed/);
    expect(() => applyRawOverrides({}, [override])).toThrow(InvalidConfigError);
    expect(polluted()).toBe(false);
  });

  it.each([
    "__proto__ = 1",
    "[__proto__]\npolluted = 1",
    '"__proto__" = { polluted = 1 }',
    '[model_providers.__proto__]\nbase_url = "http://127.0.0.1:1/v1"',
    'model_providers = { constructor = { base_url = "http://127.0.0.1:1/v1" } }',
    "[agents]\nprototype = 1",
    "list = [{ __proto__ = { polluted = 1 } }]",
  ])("config.toml with %j is refused and Object.prototype stays clean", async (toml) => {
    const home = await homeWith(toml);
    const error = await loadConfig({ home }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as Error).message).toContain(`${path.join(home, "config.toml")}: the key "`);
    expect((error as Error).message).toContain("is not allowed");
    expect(() => parseConfigToml(toml)).toThrow(InvalidConfigError);
    expect(polluted()).toBe(false);
  });

  it("ordinary keys that merely contain the words are fine", async () => {
    const home = await homeWith('[model_providers.proto]\nbase_url = "http://127.0.0.1:1/v1"\nname = "constructor"\n');
    const config = await loadConfig({ home, provider: "proto", rawOverrides: ["model_providers.proto.prototypes=1"] });
    expect(config.provider).toMatchObject({ id: "proto", name: "constructor" });
  });
});

describe("profiles and unknown keys", () => {
  const toml =
    'model = "top"\nprofile = "a"\n[profiles.a]\nmodel = "from-a"\n[profiles.b]\nmodel = "from-b"\nsandbox_mode = "workspace-write"\n';

  it("the profile overrides top-level keys and overrides override the profile; `profile` is the default", async () => {
    const home = await homeWith(toml);
    expect((await loadConfig({ home })).model).toBe("from-a");
    const b = await loadConfig({ home, profile: "b" });
    expect(b.model).toBe("from-b");
    expect(b.sandboxPolicy.mode).toBe("workspace-write");
    expect((await loadConfig({ home, profile: "b", model: "flag" })).model).toBe("flag");
    expect((await loadConfig({ home, rawOverrides: ["profiles.a.model=edited"] })).model).toBe("edited");
  });

  it("an unknown profile is an InvalidConfigError naming it and the known ones", async () => {
    const home = await homeWith(toml);
    const error = await loadConfig({ home, profile: "zzz" }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as Error).message).toBe('config profile "zzz" not found (known: a, b)');
  });

  it("reports each key it does not read, with its table, and Codex keys it ignores as ignored", async () => {
    const home = await homeWith(
      'modle = "x"\nhide_agent_reasoning = true\n[agents]\nmax_depth = 1\nmax_children = 2\n' +
        '[model_providers.p]\nbase_url = "http://127.0.0.1:1/v1"\nbase = 1\n[model_providers.p.http_headers]\nX-Any = "1"\n' +
        '[shell_environment_policy.set]\nANY_NAME = "1"\n',
    );
    const warnings: string[] = [];
    await loadConfig({ home, onWarning: (message) => warnings.push(message) });
    expect(warnings.sort()).toEqual([
      'config.toml: "hide_agent_reasoning" is a Codex key llmx ignores',
      'config.toml: unknown key "base" in [model_providers.p] (ignored)',
      'config.toml: unknown key "max_children" in [agents] (ignored)',
      'config.toml: unknown key "modle" at the top level (ignored)',
    ]);
  });

  it("ephemeral configs are temporary: nothing to restart them from", async () => {
    const home = await runtime.home();
    expect(await loadConfig({ home, ephemeral: true })).toMatchObject({ ephemeral: true, restart: "temporary" });
  });
});
