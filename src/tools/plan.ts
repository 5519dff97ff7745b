// The `update_plan` tool: it does nothing but hand the model's plan to clients as a `plan_update` event.
import { arrayOf, object, optional, shapeError, string } from "../protocol/checks.js";
import { parseToolArguments, withoutNulls, type ToolArgumentError } from "./arguments.js";
import { PLAN_STEP_STATUSES } from "./specs.js";

export type PlanStepStatus = (typeof PLAN_STEP_STATUSES)[number];
export type UpdatePlanArgs = { explanation?: string | undefined; plan: { step: string; status: PlanStepStatus }[] };

/** The `plan_update` event payload (without its `type`). */
export type PlanUpdate = { explanation: string | null; plan: UpdatePlanArgs["plan"] };

/** What the model gets back from a successful call, as in Codex. */
export const PLAN_UPDATED_OUTPUT = "Plan updated";

export function parsePlanArguments(json: string): { update: PlanUpdate } | ToolArgumentError {
  const parsed = parseToolArguments(readUpdatePlanArgs, json);
  if ("error" in parsed) return parsed;
  return { update: { explanation: parsed.explanation ?? null, plan: parsed.plan } };
}

/** Fields other than these are dropped (in the steps too); a null top-level field reads as absent. */
function readUpdatePlanArgs(value: unknown): UpdatePlanArgs {
  const args = object(withoutNulls(value), "");
  const explanation = optional(args.explanation, "explanation", string);
  const plan = arrayOf(args.plan, "plan", (element, at) => {
    const step = object(element, at);
    return { step: string(step.step, `${at}.step`), status: planStepStatus(step.status, `${at}.status`) };
  });
  return explanation === undefined ? { plan } : { explanation, plan };
}

function planStepStatus(value: unknown, at: string): PlanStepStatus {
  const status = PLAN_STEP_STATUSES.find((known) => known === value);
  if (status !== undefined) return status;
  throw shapeError(at, `one of ${PLAN_STEP_STATUSES.join(", ")}`, value);
}
