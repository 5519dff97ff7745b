// Tool arguments: valid JSON becomes typed params; anything else becomes a message for the model.
import { describe, expect, test } from "vitest";
import * as z from "zod";
import { parseDelegateArguments } from "../../src/session/tool-calls.js";
import { parsePlanArguments, parseShellArguments } from "../../src/tools/index.js";
import { brokenVariants } from "../variants.js";

describe("parseShellArguments", () => {
  test("reads Codex's shell arguments, treating null as absent", () => {
    expect(parseShellArguments('{"command":["ls","-la"],"workdir":"src","timeout_ms":5000,"justification":null}')).toEqual({
      command: ["ls", "-la"],
      workdir: "src",
      timeout_ms: 5000,
    });
  });

  test.each([
    ["not json", "failed to parse function arguments: "],
    ['{"command":"ls"}', "command"],
    ['{"command":[]}', "command"],
    ['{"command":["ls"],"timeout_ms":-1}', "timeout_ms"],
    ["[]", "failed to parse function arguments"],
  ])("%s becomes a model-facing error mentioning %s", (json, fragment) => {
    const parsed = parseShellArguments(json);
    expect(parsed).toEqual({ error: expect.stringContaining(fragment) });
  });
});

describe("parsePlanArguments", () => {
  test("gives the plan_update payload, with a missing explanation as null", () => {
    expect(parsePlanArguments('{"plan":[{"step":"read code","status":"completed"},{"step":"fix","status":"in_progress"}]}')).toEqual({
      update: {
        explanation: null,
        plan: [
          { step: "read code", status: "completed" },
          { step: "fix", status: "in_progress" },
        ],
      },
    });
    expect(parsePlanArguments('{"explanation":"why","plan":[]}')).toEqual({ update: { explanation: "why", plan: [] } });
  });

  test.each(['{"plan":[{"step":"x","status":"done"}]}', '{"explanation":"no plan"}', "{"])(
    "%s becomes a model-facing error",
    (json) => {
      expect(parsePlanArguments(json)).toEqual({ error: expect.stringMatching(/^failed to parse function arguments: /) });
    },
  );
});

// The zod schemas the hand-written checks replaced, as the oracle for what is accepted and what comes out.
const nullsDropped = (value: unknown): unknown =>
  value === null || typeof value !== "object" || Array.isArray(value)
    ? value
    : Object.fromEntries(Object.entries(value).filter(([, field]) => field !== null));
const ZodShellParams = z.preprocess(
  nullsDropped,
  z.object({
    command: z.array(z.string()).min(1),
    workdir: z.string().optional(),
    timeout_ms: z.number().int().nonnegative().optional(),
    with_escalated_permissions: z.boolean().optional(),
    justification: z.string().optional(),
  }),
);
const ZodPlanArgs = z.preprocess(
  nullsDropped,
  z.object({
    explanation: z.string().optional(),
    plan: z.array(z.object({ step: z.string(), status: z.enum(["pending", "in_progress", "completed"]) })),
  }),
);
const ZodDelegateArgs = z.object({ prompt: z.string().min(1) });

/** Broken variants of `valid` as JSON text (values JSON cannot carry are left out), plus JSON that is no object. */
function argumentVariants(valid: unknown): string[] {
  const texts = brokenVariants({ ...(valid as object), unknown_field: { nested: [1] } }).flatMap((value) => {
    const text = JSON.stringify(value) as string | undefined;
    return text === undefined ? [] : [text];
  });
  return [...texts, "null", "5", '"text"', "[]", "[{}]", "true", "{}", "1e999", "", "{", '{"a":1}{}', "\u0000"];
}

describe("hand-written argument checks against the zod schemas they replaced", () => {
  test.each([
    [
      "shell",
      { command: ["bash", "-lc", "ls"], workdir: "src", timeout_ms: 1000, with_escalated_permissions: false, justification: "j" },
      (json: string): unknown => parseShellArguments(json),
      (value: unknown) => ZodShellParams.safeParse(value),
      (data: unknown) => data,
    ],
    [
      "update_plan",
      { explanation: "e", plan: [{ step: "a", status: "pending", note: "x" }, { step: "b", status: "completed" }] },
      (json: string): unknown => parsePlanArguments(json),
      (value: unknown) => ZodPlanArgs.safeParse(value),
      (data: unknown) => {
        const { explanation, plan } = data as z.infer<typeof ZodPlanArgs>;
        return { update: { explanation: explanation ?? null, plan } };
      },
    ],
    [
      "delegate",
      { prompt: "do it" },
      (json: string): unknown => parseDelegateArguments(json),
      (value: unknown) => ZodDelegateArgs.safeParse(value),
      (data: unknown) => data,
    ],
  ])("%s: the same arguments are accepted, with the same result", (_name, valid, parse, oracle, expected) => {
    const texts = argumentVariants(valid);
    expect(texts.length).toBeGreaterThan(100);
    for (const json of texts) {
      let value: unknown;
      try {
        value = JSON.parse(json);
      } catch {
        expect(parse(json)).toEqual({ error: expect.stringMatching(/^failed to parse function arguments: /) });
        continue;
      }
      const zod = oracle(value);
      const result = parse(json);
      if (zod.success) expect(result, json).toStrictEqual(expected(zod.data));
      else expect(result, json).toEqual({ error: expect.stringMatching(/^failed to parse function arguments: \S/) });
    }
  });
});

describe("argument errors say what is wrong, naming the field", () => {
  test.each([
    ["{}", "command is missing (expected a non-empty array of strings)"],
    ['{"command":"ls -la"}', 'command: expected a non-empty array of strings, got "ls -la"'],
    ['{"command":[]}', "command: expected a non-empty array of strings, got an empty array"],
    ['{"command":["ls",1]}', "command[1]: expected a string, got 1"],
    ['{"command":["ls"],"workdir":["src"]}', "workdir: expected a string, got an array"],
    ['{"command":["ls"],"timeout_ms":1.5}', "timeout_ms: expected a non-negative integer, got 1.5"],
    ['{"command":["ls"],"timeout_ms":1e999}', "timeout_ms: expected a non-negative integer, got Infinity"],
    ['{"command":["ls"],"timeout_ms":"5000"}', 'timeout_ms: expected a non-negative integer, got "5000"'],
    ['{"command":["ls"],"with_escalated_permissions":"yes"}', 'with_escalated_permissions: expected a boolean, got "yes"'],
    ["[]", "expected an object, got an empty array"],
    ["null", "expected an object, got null"],
    ['"ls"', 'expected an object, got "ls"'],
  ])("shell %s: %s", (json, message) => {
    expect(parseShellArguments(json)).toEqual({ error: `failed to parse function arguments: ${message}` });
  });

  test.each([
    ['{"plan":{}}', "plan: expected an array, got an object"],
    ['{"plan":null}', "plan is missing (expected an array)"],
    ['{"plan":[null]}', "plan[0]: expected an object, got null"],
    ['{"plan":[{"step":"a","status":"done"}]}', 'plan[0].status: expected one of pending, in_progress, completed, got "done"'],
    ['{"plan":[{"status":"pending"}]}', "plan[0].step is missing (expected a string)"],
    ['{"explanation":7,"plan":[]}', "explanation: expected a string, got 7"],
  ])("update_plan %s: %s", (json, message) => {
    expect(parsePlanArguments(json)).toEqual({ error: `failed to parse function arguments: ${message}` });
  });

  test.each([
    ["{}", "prompt is missing (expected a string)"],
    ['{"prompt":""}', 'prompt: expected a non-empty string, got ""'],
    ['{"prompt":null}', "prompt: expected a string, got null"],
    ['{"prompt":["a"]}', "prompt: expected a string, got an array"],
    ['["do it"]', "expected an object, got an array"],
  ])("delegate %s: %s", (json, message) => {
    expect(parseDelegateArguments(json)).toEqual({ error: `failed to parse function arguments: ${message}` });
  });

  test("a long value is not repeated in the message", () => {
    const parsed = parseShellArguments(JSON.stringify({ command: "x".repeat(10_000) }));
    expect(parsed).toEqual({ error: "failed to parse function arguments: command: expected a non-empty array of strings, got a string" });
  });

  test("fields the tool does not know are dropped; null fields read as absent at the top level only", () => {
    expect(parseShellArguments('{"command":["ls"],"cwd":"/","workdir":null,"timeout_ms":null}')).toStrictEqual({ command: ["ls"] });
    expect(parsePlanArguments('{"explanation":null,"plan":[{"step":"a","status":"pending","id":1}]}')).toStrictEqual({
      update: { explanation: null, plan: [{ step: "a", status: "pending" }] },
    });
    expect(parsePlanArguments('{"plan":[{"step":null,"status":"pending"}]}')).toEqual({
      error: "failed to parse function arguments: plan[0].step: expected a string, got null",
    });
    expect(parseDelegateArguments('{"prompt":"p","model":"x"}')).toStrictEqual({ prompt: "p" });
  });
});
