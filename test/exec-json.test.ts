// `codex exec --json` lines from protocol events: an `error` event's llmx `code` stays out of them, since
// Codex's thread events carry only the message.
import { describe, expect, it } from "vitest";
import { createExecJsonTranslator } from "../src/cli/exec-json.js";
import { errorEvent, ModelAuthError } from "../src/index.js";

describe("createExecJsonTranslator", () => {
  it("prints an error event as Codex does, and the turn as failed with its message", () => {
    const translate = createExecJsonTranslator();
    const error = errorEvent(new ModelAuthError("OpenAI", 401, "invalid key", true));
    expect(translate({ id: "1", msg: { type: "task_started", model_context_window: null } })).toEqual([{ type: "turn.started" }]);
    expect(translate({ id: "1", msg: error })).toEqual([{ type: "error", message: error.message }]);
    expect(translate({ id: "1", msg: { type: "task_complete", last_agent_message: null } })).toEqual([
      { type: "turn.failed", error: { message: error.message } },
    ]);
  });
});
