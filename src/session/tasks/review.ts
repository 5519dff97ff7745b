// The review task, run as Codex runs it: a one-shot sub-agent with the review rubric as its instructions. Its
// events are shown under the review's id (its agent messages held back one step, so the final JSON verdict is
// not shown twice); its last message is parsed as the review; a `<user_action>` note records the outcome.
// Review mode is always left: on success, on failure, and in `abort`.
import { runOneShot } from "../../delegate/delegate.js";
import type { EventMsg, MessageItem, ReviewRequest } from "../../protocol/index.js";
import type { ReviewOutputEvent } from "./review-output.js";
import type { SessionTask, TaskContext } from "./task.js";

export const REVIEW_PROMPT = `You are reviewing a change on behalf of the user. Look for bugs that matter: wrong behaviour, missed
edge cases, broken error handling, security or data-loss risks, and changes that do not do what they claim.
Report only findings you can point to; skip style preferences.

Reply with one JSON object and nothing else:
{"findings": [{"title": "...", "body": "...", "confidence_score": 0.0-1.0, "priority": 0-3,
  "code_location": {"absolute_file_path": "...", "line_range": {"start": 1, "end": 1}}}],
 "overall_correctness": "patch is correct" | "patch is incorrect",
 "overall_explanation": "...", "overall_confidence_score": 0.0-1.0}`;

export function reviewNote(output: ReviewOutputEvent | undefined): MessageItem {
  const lines = ["<user_action>"];
  if (output === undefined) {
    lines.push(
      "  <context>The user started a review, but it was interrupted before it finished. If they ask about it, suggest running it again.</context>",
      "  <action>review</action>",
    );
  } else {
    lines.push(
      "  <context>The user ran a review. Below is what the reviewer reported; the user may ask you to address some of it.</context>",
      "  <action>review</action>",
      "  <results>",
      output.overall_explanation,
      ...output.findings.map(
        (finding) =>
          `- ${finding.title} (${finding.code_location.absolute_file_path}:${finding.code_location.line_range.start}-${finding.code_location.line_range.end})\n  ${finding.body}`,
      ),
      "  </results>",
    );
  }
  lines.push("</user_action>");
  return { type: "message", role: "user", content: [{ type: "input_text", text: lines.join("\n") }] };
}

export function reviewTask(request: ReviewRequest): SessionTask {
  return {
    kind: "review",
    async run(ctx, signal) {
      await runReview(request, ctx, signal);
      return null;
    },
    abort(ctx) {
      exitReviewMode(ctx, undefined);
    },
  };
}

function exitReviewMode(ctx: TaskContext, output: ReviewOutputEvent | undefined): void {
  ctx.recordResponseItems([reviewNote(output)]);
  ctx.emit({ type: "exited_review_mode", review_output: output ?? null });
}

async function runReview(request: ReviewRequest, ctx: TaskContext, signal: AbortSignal): Promise<void> {
  const entered: EventMsg = { type: "entered_review_mode", prompt: request.prompt };
  if (request.user_facing_hint !== undefined) entered.user_facing_hint = request.user_facing_hint;
  ctx.emit(entered);

  let heldBack: EventMsg | undefined;
  let result: Awaited<ReturnType<typeof runOneShot>>;
  try {
    result = await runOneShot(
      ctx.delegation(signal),
      {
        kind: "review",
        overrides: {
          baseInstructions: REVIEW_PROMPT,
          userInstructions: undefined,
          developerInstructions: undefined,
          projectDocs: false,
        },
      },
      [{ type: "text", text: request.prompt }],
      (event) => {
        const msg = event.msg;
        if (msg.type === "task_complete" || msg.type === "turn_aborted") return;
        if (msg.type === "agent_message_content_delta") return;
        if (msg.type === "item_completed" && "AgentMessage" in msg.item) return;
        if (msg.type === "agent_message") {
          if (heldBack) ctx.emit(heldBack);
          heldBack = msg;
          return;
        }
        ctx.emit(msg);
      },
    );
  } catch (error) {
    // A reviewer that could not start or died still closes review mode, with no output (an aborted task
    // closes it in `abort`).
    if (!signal.aborted) exitReviewMode(ctx, undefined);
    throw error;
  }
  if (result.aborted || result.lastAgentMessage === null) {
    exitReviewMode(ctx, undefined);
    return;
  }
  // The output is checked with zod, which a thread loads only if it runs a review.
  const { parseReviewOutput } = await import("./review-output.js");
  exitReviewMode(ctx, parseReviewOutput(result.lastAgentMessage));
}
