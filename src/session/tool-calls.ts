// Runs the tools the model calls, inside a turn: the shell (with approvals, streamed output, kill on
// interrupt), the plan tool and delegation. Every call gets an output item, so the model never sees an
// unanswered call. Delegation arrives as a function: this module knows nothing of sub-agents.
import path from "node:path";
import { object, shapeError, string } from "../protocol/checks.js";
import type { EventMsg, FunctionCallItem, FunctionCallOutputItem, ReviewDecision } from "../protocol/index.js";
import {
  applyCommandEnvironment,
  commandApprovalKey,
  decideCommand,
  isLikelySandboxDenial,
  needsSandbox,
  type ShellResult,
  durationToCodex,
  escalationRejectedMessage,
  formatShellOutputForModel,
  formatShellOutputText,
  parsePlanArguments,
  parseShellArguments,
  parseToolArguments,
  parsedCommand,
  runShellCommand,
  type ProcessGroupTracker,
  type ToolArgumentError,
} from "../tools/index.js";
import { errorEvent } from "../errors.js";
import type { TurnSettings } from "./settings.js";

/** What the tools of one task may use. */
export type ToolRuntime = {
  /** Whether the model is offered tools at all. */
  enabled: boolean;
  waitForApproval(subId: string, callId: string, signal: AbortSignal): Promise<ReviewDecision>;
  /** Commands (JSON of their argv) the user approved for the rest of the session. */
  approvedForSession: Set<string>;
  /** The environment commands start from (the session's shell_environment_policy applied). */
  env: NodeJS.ProcessEnv;
  /** The llmx home, hidden from sandboxed commands. */
  llmxHome: string;
  /** The process groups of this session's commands (background jobs included), killed when it ends. */
  processGroups: ProcessGroupTracker;
  /** Runs a one-shot sub-agent on `prompt` and returns its answer; absent when the conversation cannot delegate. */
  delegate?: ((prompt: string, signal: AbortSignal) => Promise<string>) | undefined;
};

export type ToolCallContext = {
  subId: string;
  settings: TurnSettings;
  emit(msg: EventMsg): void;
  signal: AbortSignal;
  tools: ToolRuntime;
};

/** The `delegate` tool's arguments: a non-empty `prompt`; other fields are ignored. */
export function parseDelegateArguments(json: string): { prompt: string } | ToolArgumentError {
  return parseToolArguments((value) => {
    const prompt = string(object(value, "").prompt, "prompt");
    if (prompt === "") throw shapeError("prompt", "a non-empty string", prompt);
    return { prompt };
  }, json);
}

export const REJECTED_BY_USER = "exec command rejected by user";

export async function handleToolCall(call: FunctionCallItem, ctx: ToolCallContext): Promise<FunctionCallOutputItem> {
  const output = (text: string): FunctionCallOutputItem => ({ type: "function_call_output", call_id: call.call_id, output: text });
  switch (call.name) {
    case "shell":
    case "container.exec":
      return output(await runShell(call, ctx));
    case "update_plan": {
      const plan = parsePlanArguments(call.arguments);
      if ("error" in plan) return output(plan.error);
      ctx.emit({ type: "plan_update", ...plan.update });
      return output("Plan updated");
    }
    case "delegate":
      return output(await delegate(call, ctx));
    default:
      return output(`unsupported call: ${call.name}`);
  }
}

async function delegate(call: FunctionCallItem, ctx: ToolCallContext): Promise<string> {
  const run = ctx.tools.delegate;
  if (run === undefined) return "delegation is not available in this conversation";
  const args = parseDelegateArguments(call.arguments);
  if ("error" in args) return args.error;
  try {
    return await run(args.prompt, ctx.signal);
  } catch (error) {
    ctx.signal.throwIfAborted();
    // The parent's turn goes on: its client hears of the failure, its model gets it as the tool's output.
    const event = errorEvent(error, "sub-agent failed: ");
    ctx.emit(event);
    return event.message;
  }
}

async function runShell(call: FunctionCallItem, ctx: ToolCallContext): Promise<string> {
  const params = parseShellArguments(call.arguments);
  if ("error" in params) return params.error;
  const { command } = params;
  const { approvalPolicy, sandboxPolicy } = ctx.settings;
  const cwd = params.workdir ? path.resolve(ctx.settings.cwd, params.workdir) : ctx.settings.cwd;
  const key = commandApprovalKey(command);
  const baseEnv = ctx.tools.env;
  const decision = await decideCommand(
    {
      command,
      cwd,
      approvalPolicy,
      sandboxPolicy,
      approvedForSession: ctx.tools.approvedForSession,
      withEscalatedPermissions: params.with_escalated_permissions === true,
    },
    { baseEnv, signal: ctx.signal },
  );
  ctx.signal.throwIfAborted();
  if (decision.verdict === "reject") return escalationRejectedMessage(approvalPolicy);

  const parsed_cmd = parsedCommand(command);
  ctx.emit({ type: "exec_command_begin", call_id: call.call_id, command, cwd, parsed_cmd, is_user_shell_command: false });

  /** Asks the client; true when the command may run (outside the sandbox). */
  const approved = async (reason: string | undefined): Promise<boolean> => {
    ctx.emit({
      type: "exec_approval_request",
      call_id: call.call_id,
      command,
      cwd,
      parsed_cmd,
      ...(reason ? { reason } : {}),
    });
    const answer: ReviewDecision = await ctx.tools.waitForApproval(ctx.subId, call.call_id, ctx.signal);
    // `abort` interrupts the turn (the session aborts our signal); an aborted turn runs nothing.
    ctx.signal.throwIfAborted();
    if (answer === "approved_for_session") ctx.tools.approvedForSession.add(key);
    return answer === "approved" || answer === "approved_for_session";
  };
  const run = (sandboxed: boolean, env: NodeJS.ProcessEnv) =>
    runShellCommand({
      command,
      cwd,
      env,
      ...(params.timeout_ms !== undefined ? { timeoutMs: params.timeout_ms } : {}),
      signal: ctx.signal,
      processGroups: ctx.tools.processGroups,
      ...(sandboxed ? { sandbox: { policy: sandboxPolicy, cwd: ctx.settings.cwd, llmxHome: ctx.tools.llmxHome } } : {}),
      onOutput: (stream, chunk) =>
        ctx.emit({ type: "exec_command_output_delta", call_id: call.call_id, stream, chunk: chunk.toString("base64") }),
    });

  let result: ShellResult;
  if (decision.verdict === "ask") {
    if (!(await approved(params.justification))) return rejected(call, ctx);
    result = await run(false, baseEnv);
  } else {
    // A command the rules let run unasked runs exactly as judged: with the environment the rules require.
    result = await run(decision.sandboxed, decision.env ? applyCommandEnvironment(baseEnv, decision.env) : baseEnv);
    ctx.signal.throwIfAborted();
    if (result.sandboxError) ctx.emit(errorEvent(result.sandboxError));
    // on-failure: a command the sandbox stopped may run outside it, if the user says so.
    if (
      decision.sandboxed &&
      approvalPolicy === "on-failure" &&
      needsSandbox(sandboxPolicy) &&
      result.sandboxError === undefined &&
      isLikelySandboxDenial(result.exitCode, result.aggregatedOutput)
    ) {
      if (!(await approved(`command failed in the sandbox (exit ${result.exitCode}); run it without the sandbox?`))) {
        return rejected(call, ctx);
      }
      result = await run(false, baseEnv);
    }
  }
  ctx.signal.throwIfAborted();
  ctx.emit({
    type: "exec_command_end",
    call_id: call.call_id,
    stdout: result.stdout,
    stderr: result.stderr,
    aggregated_output: result.aggregatedOutput,
    exit_code: result.exitCode,
    duration: durationToCodex(result.durationMs),
    formatted_output: formatShellOutputText(result),
  });
  return formatShellOutputForModel(result);
}

function rejected(call: FunctionCallItem, ctx: ToolCallContext): string {
  ctx.emit({
    type: "exec_command_end",
    call_id: call.call_id,
    stdout: "",
    stderr: REJECTED_BY_USER,
    aggregated_output: REJECTED_BY_USER,
    exit_code: -1,
    duration: { secs: 0, nanos: 0 },
    formatted_output: REJECTED_BY_USER,
  });
  return REJECTED_BY_USER;
}
