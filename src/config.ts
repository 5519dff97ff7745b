// What a conversation is configured with. Plain data: it crosses into the worker thread as is.
import { homedir } from "node:os";
import path from "node:path";
import { z } from "zod";
import { InvalidConfigError } from "./errors.js";
import {
  AskForApproval,
  ReasoningEffort,
  ReasoningSummary,
  SandboxPolicy,
  SessionSource,
  type ShellEnvironmentPolicy,
} from "./protocol/index.js";
import type { ModelProviderInfo } from "./model/provider-info.js";

/** OTP's restart types: never restarted, restarted after a crash, restarted after any end it did not ask for. */
export type RestartType = "temporary" | "transient" | "permanent";

export type ConversationConfig = {
  /** Absolute working directory of the session. */
  cwd: string;
  /** Where sessions/ lives: `LLMX_HOME` or `~/.llmx` by default (a CODEX_HOME works too). */
  home: string;
  model: string;
  /** Provider id: `offline` (built in, no network) by default. */
  modelProvider: string;
  /** How to reach the provider's server; unused by the offline provider. See `loadConfig`. */
  provider?: ModelProviderInfo;
  approvalPolicy: AskForApproval;
  sandboxPolicy: SandboxPolicy;
  /**
   * Which environment variables the commands the model runs get (config.toml's `[shell_environment_policy]`);
   * absent means Codex's defaults: everything but names matching *KEY*, *SECRET* or *TOKEN*.
   */
  shellEnvironmentPolicy?: ShellEnvironmentPolicy;
  reasoningEffort?: ReasoningEffort;
  reasoningSummary: ReasoningSummary;
  /** Base instructions sent to the model before any history. */
  baseInstructions?: string;
  /** User instructions (config + AGENTS.md), recorded in the initial context. */
  userInstructions?: string;
  developerInstructions?: string;
  /** Options for the model provider, e.g. the offline model's `deltaDelayMs`. */
  modelOptions?: Record<string, unknown>;
  /**
   * A module (absolute path or file URL) that exports `createModelClient(config)`; loaded inside the worker.
   * Lets embedders plug in their own provider. Overrides `modelProvider` when set.
   */
  modelProviderModule?: string;
  source?: SessionSource;
  originator?: string;
  /** Whether AGENTS.md files are read into the user instructions (default true; off for review sub-agents). */
  projectDocs?: boolean;
  /** Whether the model is offered tools (default true; off for the compaction sub-agent, as in Codex). */
  tools?: boolean;
  /** How deep sub-agents may nest below this conversation (default 3). */
  maxSubagentDepth?: number;
  /** How many sub-agents may run at once across the manager (default 8). */
  maxSubagents?: number;
  /** Whether the supervisor restarts this conversation after a crash (default "transient"; sub-agents are "temporary"). */
  restart?: RestartType;
  /**
   * The restart type of the sub-agents this conversation starts (default "temporary"). A restarted sub-agent is
   * resumed from its rollout and wired to its parent's worker again; the task it was running ends with an error.
   */
  subagentRestart?: RestartType;
  /**
   * Run without a rollout file (Codex's `--ephemeral`): the conversation is recorded in memory only, so it cannot
   * be resumed, forked or restarted. Its sub-agents are ephemeral too.
   */
  ephemeral?: boolean;
  /** How long it gets to shut down before it is killed, in ms, or "brutal_kill" (default 10 s; sub-agents 2 s). */
  shutdown?: number | "brutal_kill";
};

export const DEFAULT_MAX_SUBAGENT_DEPTH = 3;
export const DEFAULT_MAX_SUBAGENTS = 8;

export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.LLMX_HOME;
  return fromEnv !== undefined && fromEnv !== "" ? path.resolve(fromEnv) : path.join(homedir(), ".llmx");
}

export const OFFLINE_MODEL = "llmx-offline";
export const OFFLINE_PROVIDER = "offline";

export function createConfig(overrides: Partial<ConversationConfig> = {}): ConversationConfig {
  return {
    cwd: process.cwd(),
    home: defaultHome(),
    model: OFFLINE_MODEL,
    modelProvider: OFFLINE_PROVIDER,
    approvalPolicy: "on-request",
    sandboxPolicy: { mode: "read-only" },
    reasoningSummary: "auto",
    ...overrides,
  };
}

const absolutePath = (what: string) =>
  z.string().min(1).refine((value) => path.isAbsolute(value), { message: `${what} must be an absolute path` });
const RestartTypeSchema = z.enum(["temporary", "transient", "permanent"]);

/**
 * The shape every ConversationConfig must have, checked where a config enters llmx (the manager's
 * newConversation / resume / fork, and `loadConfig`). Unknown keys are refused: a misspelt option would
 * otherwise be silently ignored.
 */
export const ConversationConfigSchema = z.strictObject({
  cwd: absolutePath("cwd"),
  home: absolutePath("home"),
  model: z.string().min(1),
  modelProvider: z.string().min(1),
  provider: z
    .looseObject({
      id: z.string().min(1),
      name: z.string(),
      baseUrl: z.string().url(),
      wireApi: z.enum(["responses", "chat"]),
      envKey: z.string().optional(),
      httpHeaders: z.record(z.string(), z.string()).optional(),
      requestMaxRetries: z.number().int().nonnegative(),
      streamMaxRetries: z.number().int().nonnegative(),
      streamIdleTimeoutMs: z.number().int().positive(),
    })
    .optional(),
  approvalPolicy: AskForApproval,
  sandboxPolicy: SandboxPolicy,
  shellEnvironmentPolicy: z
    .strictObject({
      inherit: z.enum(["all", "core", "none"]),
      ignoreDefaultExcludes: z.boolean(),
      exclude: z.array(z.string()),
      set: z.record(z.string(), z.string()),
      includeOnly: z.array(z.string()),
    })
    .optional(),
  reasoningEffort: ReasoningEffort.optional(),
  reasoningSummary: ReasoningSummary,
  baseInstructions: z.string().optional(),
  userInstructions: z.string().optional(),
  developerInstructions: z.string().optional(),
  modelOptions: z.record(z.string(), z.unknown()).optional(),
  modelProviderModule: z.string().min(1).optional(),
  source: SessionSource.optional(),
  originator: z.string().optional(),
  projectDocs: z.boolean().optional(),
  tools: z.boolean().optional(),
  maxSubagentDepth: z.number().int().nonnegative().optional(),
  maxSubagents: z.number().int().positive().optional(),
  restart: RestartTypeSchema.optional(),
  subagentRestart: RestartTypeSchema.optional(),
  shutdown: z.union([z.number().nonnegative(), z.literal("brutal_kill")]).optional(),
  ephemeral: z.boolean().optional(),
});

// Every ConversationConfig field has its place in the schema (a field added to one and not the other fails here).
type UncheckedFields = Exclude<keyof ConversationConfig, keyof z.infer<typeof ConversationConfigSchema>>;
const schemaCoversConfig: [UncheckedFields] extends [never] ? true : UncheckedFields = true;
void schemaCoversConfig;

/**
 * Checks a conversation config and returns it unchanged, or throws InvalidConfigError naming the first field at
 * fault (`field`) and every problem found.
 */
export function validateConversationConfig(config: unknown): ConversationConfig {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new InvalidConfigError("a conversation needs a config object (build it with loadConfig() or createConfig())");
  }
  const parsed = ConversationConfigSchema.safeParse(config);
  if (parsed.success) return config as ConversationConfig;
  const issues = parsed.error.issues;
  const valueAt = (keys: readonly PropertyKey[]): unknown =>
    keys.reduce<unknown>((value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key], config);
  const missing = issues.filter((issue) => issue.code !== "unrecognized_keys" && valueAt(issue.path) === undefined);
  const problems = [
    ...(missing.length > 0 ? [`missing ${missing.map((issue) => issue.path.join(".")).join(", ")}`] : []),
    ...issues
      .filter((issue) => !missing.includes(issue))
      .map((issue) =>
        issue.code === "unrecognized_keys"
          ? `unknown option${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`
          : `${issue.path.join(".")}: ${issue.message}`,
      ),
  ];
  const first = issues[0];
  const field = first === undefined ? undefined : first.code === "unrecognized_keys" ? first.keys[0] : first.path.join(".");
  throw new InvalidConfigError(`invalid conversation config: ${problems.join("; ")} (build it with loadConfig() or createConfig())`, {
    ...(field !== undefined ? { field } : {}),
  });
}
