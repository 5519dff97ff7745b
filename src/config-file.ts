// Reads a Codex-style `config.toml` from the llmx home and turns it, with command-line overrides, into a
// ConversationConfig. Runs on the supervisor side; the result is plain data handed to the worker.
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import * as z from "zod";
import {
  createConfig,
  defaultHome,
  OFFLINE_MODEL,
  OFFLINE_PROVIDER,
  validateConversationConfig,
  type ConversationConfig,
} from "./config.js";
import { InvalidConfigError } from "./errors.js";
import {
  BUILT_IN_PROVIDERS,
  DEFAULT_REQUEST_MAX_RETRIES,
  DEFAULT_STREAM_IDLE_TIMEOUT_MS,
  DEFAULT_STREAM_MAX_RETRIES,
  type ModelProviderInfo,
} from "./model/provider-info.js";
import { AskForApproval, ReasoningEffort, type SandboxPolicy, type ShellEnvironmentPolicy } from "./protocol/index.js";

const SandboxMode = z.enum(["read-only", "workspace-write", "danger-full-access"]);

const ProviderTable = z.looseObject({
  name: z.string().optional(),
  base_url: z.string().url(),
  wire_api: z.enum(["responses", "chat"]).optional(),
  env_key: z.string().optional(),
  http_headers: z.record(z.string(), z.string()).optional(),
  request_max_retries: z.number().int().nonnegative().optional(),
  stream_max_retries: z.number().int().nonnegative().optional(),
  stream_idle_timeout_ms: z.number().int().positive().optional(),
});

/** The top-level keys a profile may set too. */
const PROFILE_KEYS = {
  model: z.string().optional(),
  model_provider: z.string().optional(),
  approval_policy: AskForApproval.optional(),
  sandbox_mode: SandboxMode.optional(),
  model_reasoning_effort: ReasoningEffort.optional(),
  instructions: z.string().optional(),
  developer_instructions: z.string().optional(),
};

/** `[profiles.<name>]`: a named set of top-level keys that `--profile` (or `profile = "<name>"`) lays over them. */
const ProfileTable = z.looseObject(PROFILE_KEYS);

const ConfigToml = z.looseObject({
  /** The profile used when the command line names none (Codex's `profile` key). */
  profile: z.string().optional(),
  profiles: z.record(z.string(), ProfileTable).optional(),
  ...PROFILE_KEYS,
  sandbox_workspace_write: z
    .looseObject({
      network_access: z.boolean().optional(),
      writable_roots: z.array(z.string()).optional(),
      exclude_tmpdir_env_var: z.boolean().optional(),
      exclude_slash_tmp: z.boolean().optional(),
    })
    .optional(),
  /** Which environment variables commands get (Codex's table; `experimental_use_profile` is read and ignored). */
  shell_environment_policy: z
    .looseObject({
      inherit: z.enum(["all", "core", "none"]).optional(),
      ignore_default_excludes: z.boolean().optional(),
      exclude: z.array(z.string()).optional(),
      include_only: z.array(z.string()).optional(),
      set: z.record(z.string(), z.string()).optional(),
      experimental_use_profile: z.boolean().optional(),
    })
    .optional(),
  model_providers: z.record(z.string(), ProviderTable).optional(),
  /** Sub-agent limits: how deep they may nest, how many may run at once. */
  agents: z
    .looseObject({ max_depth: z.number().int().nonnegative().optional(), max_threads: z.number().int().positive().optional() })
    .optional(),
});
export type ConfigToml = z.infer<typeof ConfigToml>;

/** What the command line (or an embedder) sets on top of config.toml. */
export type ConfigOverrides = {
  home?: string;
  cwd?: string;
  model?: string;
  provider?: string;
  approvalPolicy?: AskForApproval;
  sandboxMode?: z.infer<typeof SandboxMode>;
  /** `key=value` pairs in TOML syntax, like `codex --config` (dotted keys allowed). */
  rawOverrides?: readonly string[];
  /** The `[profiles.<name>]` table to lay over the top-level keys (default: config.toml's `profile` key). */
  profile?: string;
  /** Run without writing a rollout file (Codex's `--ephemeral`). */
  ephemeral?: boolean;
  /** Told about keys of config.toml llmx does not know (or knows and ignores), one message per key. */
  onWarning?: (message: string) => void;
  /** Library callers: any ConversationConfig field, set last (over config.toml and the options above). */
  config?: Partial<ConversationConfig>;
};

/** The model used when a real provider is chosen without naming a model. */
export const DEFAULT_REMOTE_MODEL = "gpt-5-codex";

export async function loadConfigToml(home: string): Promise<ConfigToml> {
  const file = path.join(home, "config.toml");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new InvalidConfigError(`cannot read ${file}`, { cause: error });
  }
  return parseConfigToml(text, file);
}

export function parseConfigToml(text: string, origin = "config.toml"): ConfigToml {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (error) {
    const detail = error instanceof TomlError ? error.message : String(error);
    throw new InvalidConfigError(`${origin} is not valid TOML: ${detail}`, { cause: error });
  }
  assertSafeKeys(raw, origin);
  const parsed = ConfigToml.safeParse(raw);
  if (!parsed.success) throw new InvalidConfigError(`${origin}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Keys that name an object's prototype machinery: copied into a plain object, they could reach Object.prototype. */
const RESERVED_KEYS = new Set(["__proto__", "constructor", "prototype"]);

function reservedKeyError(origin: string, keyPath: readonly string[]): InvalidConfigError {
  return new InvalidConfigError(
    `${origin}: the key "${keyPath.join(".")}" is not allowed (__proto__, constructor and prototype are reserved)`,
  );
}

/** Refuses reserved keys at any depth of a parsed TOML value. */
function assertSafeKeys(value: unknown, origin: string, keyPath: readonly string[] = []): void {
  if (typeof value !== "object" || value === null) return;
  for (const [key, child] of Object.entries(value)) {
    const childPath = [...keyPath, key];
    if (RESERVED_KEYS.has(key)) throw reservedKeyError(origin, childPath);
    assertSafeKeys(child, origin, childPath);
  }
}

/** Applies `key=value` overrides (TOML values; a bare word is taken as a string) onto a parsed table. */
export function applyRawOverrides(table: Record<string, unknown>, overrides: readonly string[]): Record<string, unknown> {
  const result = structuredClone(table);
  for (const override of overrides) {
    const eq = override.indexOf("=");
    if (eq <= 0) throw new InvalidConfigError(`--config expects key=value, got "${override}"`);
    const key = override.slice(0, eq).trim();
    const rawValue = override.slice(eq + 1).trim();
    let value: unknown;
    try {
      value = (parseToml(`v = ${rawValue}`) as { v: unknown }).v;
    } catch {
      value = rawValue;
    }
    const parts = key.split(".").map((part) => part.trim());
    if (parts.some((part) => RESERVED_KEYS.has(part))) throw reservedKeyError(`--config ${override}`, parts);
    assertSafeKeys(value, `--config ${override}`, parts);
    let node = result;
    for (const part of parts.slice(0, -1)) {
      const next = Object.hasOwn(node, part) ? node[part] : undefined;
      node[part] = typeof next === "object" && next !== null ? next : {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts.at(-1) as string] = value;
  }
  return result;
}

/**
 * The documented way to a ConversationConfig: reads `<home>/config.toml` (home: `overrides.home`, else
 * `$LLMX_HOME`, else `~/.llmx`), as the CLI does, applies the overrides and returns a validated config.
 * InvalidConfigError names what is wrong (a TOML syntax error, an unknown provider, a bad field).
 */
export async function loadConfig(overrides: ConfigOverrides = {}): Promise<ConversationConfig> {
  const home = path.resolve(overrides.home ?? defaultHome());
  let toml = await loadConfigToml(home);
  if (overrides.rawOverrides && overrides.rawOverrides.length > 0) {
    const merged = applyRawOverrides(toml, overrides.rawOverrides);
    const parsed = ConfigToml.safeParse(merged);
    if (!parsed.success) throw new InvalidConfigError(`--config: ${z.prettifyError(parsed.error)}`);
    toml = parsed.data;
  }
  if (overrides.onWarning) for (const warning of configWarnings(toml)) overrides.onWarning(warning);
  return resolveConfig(toml, { ...overrides, home });
}

/**
 * The top-level keys with the chosen profile's keys laid over them. The profile is `overrides.profile`, else
 * config.toml's `profile` key; naming one that has no `[profiles.<name>]` table is an error.
 */
export function applyProfile(toml: ConfigToml, profile: string | undefined): ConfigToml {
  const name = profile ?? toml.profile;
  if (name === undefined) return toml;
  const table = toml.profiles?.[name];
  if (table === undefined) {
    const known = Object.keys(toml.profiles ?? {});
    const list = known.length === 0 ? "config.toml defines none" : `known: ${known.join(", ")}`;
    throw new InvalidConfigError(`config profile "${name}" not found (${list})`);
  }
  const defined = Object.fromEntries(Object.entries(table).filter(([, value]) => value !== undefined));
  return { ...toml, ...defined };
}

/** Keys llmx reads, per table (`*` stands for any name: a provider id, a profile name). */
const KNOWN_KEYS: Record<string, readonly string[]> = {
  "": [...Object.keys(ConfigToml.shape)],
  profiles: ["*"],
  "profiles.*": [...Object.keys(ProfileTable.shape)],
  model_providers: ["*"],
  "model_providers.*": [...Object.keys(ProviderTable.shape)],
  sandbox_workspace_write: ["network_access", "writable_roots", "exclude_tmpdir_env_var", "exclude_slash_tmp"],
  shell_environment_policy: ["inherit", "ignore_default_excludes", "exclude", "include_only", "set", "experimental_use_profile"],
  "shell_environment_policy.set": ["*"],
  "model_providers.*.http_headers": ["*"],
  agents: ["max_depth", "max_threads"],
};

/** Top-level keys Codex reads that llmx accepts and ignores (a shared config.toml keeps working). */
const CODEX_KEYS_IGNORED = new Set([
  "model_context_window",
  "model_max_output_tokens",
  "model_auto_compact_token_limit",
  "model_reasoning_summary",
  "model_verbosity",
  "model_supports_reasoning_summaries",
  "model_instructions_file",
  "experimental_instructions_file",
  "hide_agent_reasoning",
  "show_raw_agent_reasoning",
  "file_opener",
  "history",
  "tui",
  "notify",
  "notice",
  "mcp_servers",
  "project_doc_max_bytes",
  "project_doc_fallback_filenames",
  "projects",
  "tools",
  "features",
  "otel",
  "review_model",
  "chatgpt_base_url",
  "preferred_auth_method",
  "forced_login_method",
  "forced_chatgpt_workspace_id",
  "cli_auth_credentials_store",
  "mcp_oauth_credentials_store",
  "disable_response_storage",
  "windows_wsl_setup_acknowledged",
  "check_for_update_on_startup",
  "oss_provider",
  "web_search",
]);

/**
 * One message per key of `toml` llmx does not read: "ignored" for a top-level key Codex knows, "unknown"
 * otherwise, naming its table. Nested tables are checked where llmx knows their keys.
 */
export function configWarnings(toml: Record<string, unknown>): string[] {
  const warnings: string[] = [];
  const visit = (table: Record<string, unknown>, pattern: string, at: string): void => {
    const known = KNOWN_KEYS[pattern];
    if (known === undefined) return;
    for (const [key, value] of Object.entries(table)) {
      const childPattern = known.includes("*") ? `${pattern === "" ? "" : `${pattern}.`}*` : `${pattern === "" ? "" : `${pattern}.`}${key}`;
      const childAt = at === "" ? key : `${at}.${key}`;
      if (!known.includes("*") && !known.includes(key)) {
        const where = at === "" ? "at the top level" : `in [${at}]`;
        if (pattern === "" && CODEX_KEYS_IGNORED.has(key)) warnings.push(`config.toml: "${key}" is a Codex key llmx ignores`);
        else warnings.push(`config.toml: unknown key "${key}" ${where} (ignored)`);
        continue;
      }
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        visit(value as Record<string, unknown>, childPattern, childAt);
      }
    }
  };
  visit(toml, "", "");
  return warnings;
}

export function resolveConfig(rawToml: ConfigToml, overrides: ConfigOverrides & { home: string }): ConversationConfig {
  const toml = applyProfile(rawToml, overrides.profile);
  const providerId = overrides.provider ?? toml.model_provider ?? OFFLINE_PROVIDER;
  const provider = providerId === OFFLINE_PROVIDER ? undefined : resolveProvider(providerId, toml);
  const model = overrides.model ?? toml.model ?? (provider ? DEFAULT_REMOTE_MODEL : OFFLINE_MODEL);
  const mode = overrides.sandboxMode ?? toml.sandbox_mode ?? "read-only";
  const sandboxPolicy: SandboxPolicy =
    mode === "workspace-write" ? workspaceWritePolicy(toml.sandbox_workspace_write ?? {}, overrides.home) : { mode };
  const envPolicy = toml.shell_environment_policy;
  const resolved = createConfig({
    home: overrides.home,
    cwd: path.resolve(overrides.cwd ?? process.cwd()),
    model,
    modelProvider: providerId,
    ...(provider ? { provider } : {}),
    approvalPolicy: overrides.approvalPolicy ?? toml.approval_policy ?? "on-request",
    sandboxPolicy,
    ...(toml.model_reasoning_effort ? { reasoningEffort: toml.model_reasoning_effort } : {}),
    ...(toml.instructions ? { userInstructions: toml.instructions } : {}),
    ...(toml.developer_instructions ? { developerInstructions: toml.developer_instructions } : {}),
    ...(toml.agents?.max_depth !== undefined ? { maxSubagentDepth: toml.agents.max_depth } : {}),
    ...(toml.agents?.max_threads !== undefined ? { maxSubagents: toml.agents.max_threads } : {}),
    ...(envPolicy !== undefined ? { shellEnvironmentPolicy: shellEnvironmentPolicy(envPolicy) } : {}),
    // Nothing to resume an ephemeral conversation from: it is not restarted after a crash.
    ...(overrides.ephemeral ? { ephemeral: true, restart: "temporary" as const } : {}),
  });
  return validateConversationConfig({ ...resolved, ...overrides.config });
}

type WorkspaceWriteTable = NonNullable<ConfigToml["sandbox_workspace_write"]>;

/**
 * The workspace-write policy from `[sandbox_workspace_write]`: only the keys that are set, besides
 * `network_access` (false by default). Relative `writable_roots` are taken from the llmx home (config.toml's
 * directory), and `~/` from the user's home directory.
 */
function workspaceWritePolicy(table: WorkspaceWriteTable, home: string): SandboxPolicy {
  const policy: SandboxPolicy = { mode: "workspace-write", network_access: table.network_access ?? false };
  if (table.writable_roots !== undefined) {
    policy.writable_roots = table.writable_roots.map((root) =>
      root === "~" || root.startsWith("~/") ? path.join(homedir(), root.slice(1)) : path.resolve(home, root),
    );
  }
  if (table.exclude_tmpdir_env_var !== undefined) policy.exclude_tmpdir_env_var = table.exclude_tmpdir_env_var;
  if (table.exclude_slash_tmp !== undefined) policy.exclude_slash_tmp = table.exclude_slash_tmp;
  return policy;
}

/** `[shell_environment_policy]` with Codex's defaults for what it leaves out. */
function shellEnvironmentPolicy(table: NonNullable<ConfigToml["shell_environment_policy"]>): ShellEnvironmentPolicy {
  return {
    inherit: table.inherit ?? "all",
    ignoreDefaultExcludes: table.ignore_default_excludes ?? false,
    exclude: table.exclude ?? [],
    set: { ...table.set },
    includeOnly: table.include_only ?? [],
  };
}

function resolveProvider(id: string, toml: ConfigToml): ModelProviderInfo {
  const table = toml.model_providers?.[id];
  const builtIn = BUILT_IN_PROVIDERS[id];
  if (table === undefined && builtIn === undefined) {
    const known = [OFFLINE_PROVIDER, ...Object.keys(BUILT_IN_PROVIDERS), ...Object.keys(toml.model_providers ?? {})];
    throw new InvalidConfigError(`unknown model provider "${id}" (known: ${known.join(", ")})`);
  }
  const info: ModelProviderInfo = {
    id,
    name: table?.name ?? builtIn?.name ?? id,
    baseUrl: (table?.base_url ?? builtIn?.baseUrl ?? "").replace(/\/+$/, ""),
    wireApi: table?.wire_api ?? builtIn?.wireApi ?? "responses",
    requestMaxRetries: table?.request_max_retries ?? DEFAULT_REQUEST_MAX_RETRIES,
    streamMaxRetries: table?.stream_max_retries ?? DEFAULT_STREAM_MAX_RETRIES,
    streamIdleTimeoutMs: table?.stream_idle_timeout_ms ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS,
  };
  const envKey = table?.env_key ?? (table ? undefined : builtIn?.envKey);
  if (envKey !== undefined) info.envKey = envKey;
  if (table?.http_headers) info.httpHeaders = table.http_headers;
  return info;
}
