// The compact task: a one-shot sub-agent forked from this conversation's history writes the summary; this
// conversation records it as a `compacted` rollout line and continues from the compacted history (the same
// rebuild that resume performs, reference section 5.8).
import { runOneShot } from "../../delegate/delegate.js";
import type { RolloutItem } from "../../protocol/index.js";
import { SUMMARIZATION_PROMPT } from "../prompt.js";
import { turnContextItem } from "../settings.js";
import type { SessionTask } from "./task.js";

export { SUMMARIZATION_PROMPT };

export const COMPACT_COMPLETED = "Compact task completed";
export const COMPACT_WARNING =
  "Heads up: long conversations and repeated compactions make the model less accurate. Start a new conversation when you can.";

export const compactTask: SessionTask = {
  kind: "compact",
  async run(ctx, signal) {
    ctx.record([{ type: "turn_context", payload: turnContextItem(ctx.settings) }]);
    const items: RolloutItem[] = ctx.history.contents().map((payload) => ({ type: "response_item", payload }));
    const result = await runOneShot(
      ctx.delegation(signal),
      { kind: "compact", initialHistory: { type: "forked", items }, overrides: { tools: false } },
      [{ type: "text", text: SUMMARIZATION_PROMPT }],
    );
    if (result.aborted) throw new Error("the compaction sub-agent was interrupted");
    ctx.record([{ type: "compacted", payload: { message: result.lastAgentMessage ?? "" } }]);
    ctx.emit({ type: "agent_message", message: COMPACT_COMPLETED });
    ctx.emit({ type: "warning", message: COMPACT_WARNING });
    return null;
  },
};
