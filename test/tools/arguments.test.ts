// Tool arguments: valid JSON becomes typed params; anything else becomes a message for the model.
import { describe, expect, test } from "vitest";
import { parsePlanArguments, parseShellArguments } from "../../src/tools/index.js";

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
