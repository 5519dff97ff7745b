// The environment a command gets from `[shell_environment_policy]`: Codex's steps, in Codex's order. Real
// commands receiving it (sandboxed or not) are in sandbox.test.ts.
import { describe, expect, test } from "vitest";
import { commandEnvironment, environmentPatternMatches } from "../../src/tools/index.js";

describe("commandEnvironment", () => {
  const env = {
    PATH: "/usr/bin",
    HOME: "/home/u",
    LANG: "C.UTF-8",
    OPENAI_API_KEY: "sk",
    github_token: "t",
    MY_SECRET_VALUE: "s",
    KEYBOARD: "us",
    FOO: "bar",
  };

  test("by default inherits everything but names matching *KEY*, *SECRET*, *TOKEN* in any case", () => {
    expect(commandEnvironment(undefined, env)).toEqual({ PATH: "/usr/bin", HOME: "/home/u", LANG: "C.UTF-8", FOO: "bar" });
  });

  test("inherit core keeps Codex's core variables; none keeps nothing but what is set", () => {
    const core = { inherit: "core" as const, ignoreDefaultExcludes: true, exclude: [], set: {}, includeOnly: [] };
    expect(commandEnvironment(core, { ...env, USER: "u", TMPDIR: "/t" })).toEqual({ PATH: "/usr/bin", HOME: "/home/u", USER: "u", TMPDIR: "/t" });
    expect(commandEnvironment({ ...core, inherit: "none", set: { ONLY: "1" } }, env)).toEqual({ ONLY: "1" });
  });

  test("ignore_default_excludes keeps the secrets; exclude removes by pattern; set adds; include_only filters last", () => {
    const policy = {
      inherit: "all" as const,
      ignoreDefaultExcludes: true,
      exclude: ["f?o", "*_token"],
      set: { ADDED: "1", OPENAI_API_KEY: "replaced" },
      includeOnly: ["*PATH*", "openai_*", "added"],
    };
    expect(commandEnvironment(policy, env)).toEqual({ PATH: "/usr/bin", OPENAI_API_KEY: "replaced", ADDED: "1" });
  });

  test("patterns: * and ? are the only wildcards, anchored at both ends, case-insensitive", () => {
    expect(environmentPatternMatches("A*B", "axyzb")).toBe(true);
    expect(environmentPatternMatches("A?B", "AB")).toBe(false);
    expect(environmentPatternMatches("A.B", "AXB")).toBe(false);
    expect(environmentPatternMatches("[AB]", "[ab]")).toBe(true);
    expect(environmentPatternMatches("KEY", "MY_KEY")).toBe(false);
  });
});
