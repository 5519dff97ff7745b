// Turn-policy enums with Codex's exact JSON spellings (reference section 3).
import * as z from "zod";

export const AskForApproval = z.enum(["untrusted", "on-failure", "on-request", "never"]);
export type AskForApproval = z.infer<typeof AskForApproval>;

export const ReviewDecision = z.enum(["approved", "approved_for_session", "denied", "abort"]);
export type ReviewDecision = z.infer<typeof ReviewDecision>;

export const ReasoningEffort = z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]);
export type ReasoningEffort = z.infer<typeof ReasoningEffort>;

export const ReasoningSummary = z.enum(["auto", "concise", "detailed", "none"]);
export type ReasoningSummary = z.infer<typeof ReasoningSummary>;

const WorkspaceWriteFields = {
  writable_roots: z.array(z.string()).optional(),
  network_access: z.boolean().optional(),
  exclude_tmpdir_env_var: z.boolean().optional(),
  exclude_slash_tmp: z.boolean().optional(),
};

/**
 * The baseline tags the variant with `mode`; later Codex uses `type`. Both are read, `mode` is written.
 */
export const SandboxPolicy = z.union([
  z.looseObject({ mode: z.literal("danger-full-access") }),
  z.looseObject({ mode: z.literal("read-only") }),
  z.looseObject({ mode: z.literal("workspace-write"), ...WorkspaceWriteFields }),
  z.looseObject({ type: z.enum(["danger-full-access", "read-only", "external-sandbox"]) }),
  z.looseObject({ type: z.literal("workspace-write"), ...WorkspaceWriteFields }),
]);
export type SandboxPolicy = z.infer<typeof SandboxPolicy>;

export type SandboxMode = "read-only" | "workspace-write" | "danger-full-access";


/**
 * config.toml's `[shell_environment_policy]`, resolved: which environment variables a command the model runs gets.
 * Not on the wire; it lives here, beside the sandbox policy, so that the config and the tools can both name it.
 * Patterns are globs on variable names (`*` any run of characters, `?` one), matched without regard to case.
 */
export type ShellEnvironmentPolicy = {
  /** The starting set: the whole environment, only the core variables (HOME, PATH, USER, ...), or nothing. */
  inherit: "all" | "core" | "none";
  /** Keep names matching `*KEY*`, `*SECRET*` and `*TOKEN*`, which are removed by default. */
  ignoreDefaultExcludes: boolean;
  /** Names removed after the default excludes. */
  exclude: string[];
  /** Variables set (or replaced) after the excludes. */
  set: Record<string, string>;
  /** When not empty, only the names matching one of these are kept (applied last, `set` included). */
  includeOnly: string[];
};
