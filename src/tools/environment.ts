// The environment a command the model runs gets, from config.toml's `[shell_environment_policy]` (Codex's
// semantics): start from all, the core, or none of llmx's own variables; drop names that look like secrets
// unless told not to; drop the `exclude` patterns; apply `set`; keep only the `include_only` patterns.
// Applies to every command, sandboxed or not.
import type { ShellEnvironmentPolicy } from "../protocol/index.js";

/** What `inherit = "core"` keeps (Codex's list). */
export const CORE_ENVIRONMENT_VARIABLES: readonly string[] = [
  "HOME",
  "LOGNAME",
  "PATH",
  "SHELL",
  "USER",
  "USERNAME",
  "TMPDIR",
  "TEMP",
  "TMP",
];

/** Removed unless `ignore_default_excludes` is true: names that usually hold credentials. */
export const DEFAULT_ENVIRONMENT_EXCLUDES: readonly string[] = ["*KEY*", "*SECRET*", "*TOKEN*"];

/** Codex's defaults: inherit everything, minus the default excludes. */
export const DEFAULT_SHELL_ENVIRONMENT_POLICY: ShellEnvironmentPolicy = {
  inherit: "all",
  ignoreDefaultExcludes: false,
  exclude: [],
  set: {},
  includeOnly: [],
};

/**
 * Whether a variable name matches a glob pattern: `*` stands for any run of characters (none included), `?`
 * for exactly one; every other character stands for itself. Case does not matter.
 */
export function environmentPatternMatches(pattern: string, name: string): boolean {
  return patternRegExp(pattern).test(name);
}

const compiled = new Map<string, RegExp>();

function patternRegExp(pattern: string): RegExp {
  let regExp = compiled.get(pattern);
  if (regExp === undefined) {
    const source = [...pattern]
      .map((char) => (char === "*" ? ".*" : char === "?" ? "." : char.replace(/[\\^$.|+()[\]{}]/g, "\\$&")))
      .join("");
    regExp = new RegExp(`^${source}$`, "isu");
    if (compiled.size < 1_000) compiled.set(pattern, regExp);
  }
  return regExp;
}

const matchesAny = (name: string, patterns: readonly string[]): boolean =>
  patterns.some((pattern) => environmentPatternMatches(pattern, name));

/**
 * The environment for a command: `env` (llmx's own, by default) filtered by `policy` (Codex's defaults when
 * absent). The steps run in Codex's order: inherit, default excludes, `exclude`, `set`, `include_only`.
 */
export function commandEnvironment(
  policy: ShellEnvironmentPolicy | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const { inherit, ignoreDefaultExcludes, exclude, set, includeOnly } = policy ?? DEFAULT_SHELL_ENVIRONMENT_POLICY;
  // No prototype: a variable may be named `__proto__`.
  const result = Object.create(null) as Record<string, string>;
  if (inherit !== "none") {
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) continue;
      if (inherit === "core" && !CORE_ENVIRONMENT_VARIABLES.includes(name)) continue;
      result[name] = value;
    }
  }
  for (const name of Object.keys(result)) {
    if ((!ignoreDefaultExcludes && matchesAny(name, DEFAULT_ENVIRONMENT_EXCLUDES)) || matchesAny(name, exclude)) {
      delete result[name];
    }
  }
  for (const [name, value] of Object.entries(set)) result[name] = value;
  if (includeOnly.length > 0) {
    for (const name of Object.keys(result)) if (!matchesAny(name, includeOnly)) delete result[name];
  }
  return result;
}
