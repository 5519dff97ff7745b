// The `update_plan` tool: it does nothing but hand the model's plan to clients as a `plan_update` event.
import * as z from "zod";
import { parseToolArguments, withoutNulls, type ToolArgumentError } from "./arguments.js";
import { PLAN_STEP_STATUSES } from "./specs.js";

export const UpdatePlanArgs = z.preprocess(
  withoutNulls,
  z.object({
    explanation: z.string().optional(),
    plan: z.array(z.object({ step: z.string(), status: z.enum(PLAN_STEP_STATUSES) })),
  }),
);
export type UpdatePlanArgs = z.infer<typeof UpdatePlanArgs>;

/** The `plan_update` event payload (without its `type`). */
export type PlanUpdate = { explanation: string | null; plan: UpdatePlanArgs["plan"] };

/** What the model gets back from a successful call, as in Codex. */
export const PLAN_UPDATED_OUTPUT = "Plan updated";

export function parsePlanArguments(json: string): { update: PlanUpdate } | ToolArgumentError {
  const parsed = parseToolArguments(UpdatePlanArgs, json);
  if ("error" in parsed) return parsed;
  return { update: { explanation: parsed.explanation ?? null, plan: parsed.plan } };
}
