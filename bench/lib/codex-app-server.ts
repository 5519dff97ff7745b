// The real Codex app-server (npm `@openai/codex`, pinned), installed into .cache/bench/codex on first use and
// driven over stdio JSON-RPC with the same workload as bench/turns.ts (see app-server-case.ts).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./home.js";
import { runAppServerCase } from "./app-server-case.js";
import type { TurnResult } from "./turn-result.js";

export const CODEX_VERSION = "0.169.0";
const CACHE = fileURLToPath(new URL(`../../.cache/bench/codex-${CODEX_VERSION}`, import.meta.url));

/** The native binary (the npm package's `bin/codex.js` only finds and spawns it). Installs it if needed. */
export function codexBinary(): string {
  const find = (): string | undefined => {
    const scope = path.join(CACHE, "node_modules", "@openai");
    if (!existsSync(scope)) return undefined;
    for (const pkg of readdirSync(scope).filter((name) => name.startsWith("codex-"))) {
      const vendor = path.join(scope, pkg, "vendor");
      for (const triple of existsSync(vendor) ? readdirSync(vendor) : []) {
        const bin = path.join(vendor, triple, "bin", "codex");
        if (existsSync(bin)) return bin;
      }
    }
    return undefined;
  };
  const found = find();
  if (found) return found;
  mkdirSync(CACHE, { recursive: true });
  const npm = spawnSync("npm", ["install", "--prefix", CACHE, "--no-audit", "--no-fund", `@openai/codex@${CODEX_VERSION}`], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const installed = find();
  if (npm.status !== 0 || installed === undefined) throw new Error(`could not install @openai/codex@${CODEX_VERSION} into ${CACHE}`);
  return installed;
}

/** A CODEX_HOME whose config points the `mock` provider at the bench model server, with network extras off. */
function codexHome(url: string): string {
  const home = tempDir("codex-home");
  const config = `
model = "mock-model"
model_provider = "mock"
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[model_providers.mock]
name = "mock"
base_url = "${url}"
wire_api = "responses"
request_max_retries = 2
stream_max_retries = 2

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false
plugin_sharing = false
in_app_updates = false
tool_suggest = false
daemon_auto_start = false
`;
  writeFileSync(path.join(home, "config.toml"), config);
  return home;
}

export async function runCodexCase(n: number, url: string, binary: string): Promise<TurnResult> {
  const env = { ...process.env, HOME: tempDir("home"), CODEX_HOME: codexHome(url), CODEX_MANAGED_BY_NPM: "1" };
  return runAppServerCase(n, { system: `codex app-server ${CODEX_VERSION}`, command: binary, args: ["app-server"], env, cwd: tempDir("codex-cwd") });
}
