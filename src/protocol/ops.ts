// The submission queue (reference section 1): `{id, op}` with `op` internally tagged by `type`.
import * as z from "zod";
import { UserInput } from "./items.js";
import { AskForApproval, ReasoningEffort, ReasoningSummary, ReviewDecision, SandboxPolicy } from "./policies.js";

export const ReviewRequest = z.looseObject({ prompt: z.string(), user_facing_hint: z.string().optional() });
export type ReviewRequest = z.infer<typeof ReviewRequest>;

export const Op = z.discriminatedUnion("type", [
  z.object({ type: z.literal("interrupt") }),
  z.object({ type: z.literal("user_input"), items: z.array(UserInput) }),
  z.object({
    type: z.literal("user_turn"),
    items: z.array(UserInput),
    cwd: z.string(),
    approval_policy: AskForApproval,
    sandbox_policy: SandboxPolicy,
    model: z.string(),
    effort: ReasoningEffort.nullable().optional(),
    summary: ReasoningSummary,
    final_output_json_schema: z.unknown().optional(),
  }),
  z.object({
    type: z.literal("override_turn_context"),
    cwd: z.string().optional(),
    approval_policy: AskForApproval.optional(),
    sandbox_policy: SandboxPolicy.optional(),
    model: z.string().optional(),
    effort: ReasoningEffort.nullable().optional(),
    summary: ReasoningSummary.optional(),
  }),
  z.object({ type: z.literal("exec_approval"), id: z.string(), decision: ReviewDecision }),
  z.object({ type: z.literal("patch_approval"), id: z.string(), decision: ReviewDecision }),
  z.object({ type: z.literal("add_to_history"), text: z.string() }),
  z.object({ type: z.literal("get_history_entry_request"), offset: z.number(), log_id: z.number() }),
  z.object({ type: z.literal("list_mcp_tools") }),
  z.object({ type: z.literal("list_custom_prompts") }),
  z.object({ type: z.literal("compact") }),
  z.object({ type: z.literal("undo") }),
  z.object({ type: z.literal("review"), review_request: ReviewRequest }),
  z.object({ type: z.literal("shutdown") }),
  z.object({ type: z.literal("run_user_shell_command"), command: z.string() }),
]);
export type Op = z.infer<typeof Op>;
export type OpType = Op["type"];
export type OpOf<T extends OpType> = Extract<Op, { type: T }>;

export const Submission = z.object({ id: z.string(), op: Op });
export type Submission = z.infer<typeof Submission>;
