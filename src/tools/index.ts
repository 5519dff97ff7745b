// The model's tools: their specs, argument parsing, running shell commands (sandboxed, with the configured
// environment), and the approval rules.
export { DELEGATE_TOOL, SHELL_TOOL, UPDATE_PLAN_TOOL, PLAN_STEP_STATUSES } from "./specs.js";
export { parseToolArguments, type ToolArgumentError } from "./arguments.js";
export {
  DEFAULT_SHELL_TIMEOUT_MS,
  MAX_KEPT_OUTPUT_BYTES,
  parseShellArguments,
  runShellCommand,
  type ShellParams,
  type ShellArgumentError,
  type ShellResult,
  type ShellRunOptions,
} from "./shell.js";
export {
  MODEL_FORMAT_MAX_BYTES,
  MODEL_FORMAT_MAX_LINES,
  durationToCodex,
  formatShellOutputForModel,
  formatShellOutputText,
  truncateHeadTail,
} from "./exec-output.js";
export { parsedCommand, type ParsedCommand } from "./parse-command.js";
export {
  ProcessGroupTracker,
  ProcessReaper,
  isProcessGroupAlive,
  isProcessGroupId,
  killProcessGroup,
  processReaper,
  type ProcessGroupListener,
  type ProcessGroupTrackerOptions,
} from "./process-groups.js";
export { canExecute, executableProblem, pdeathsigHelper, withParentDeathSignal } from "./pdeathsig.js";
export {
  PROTECTED_NAMES,
  bwrapArgs,
  defaultBwrapPath,
  needsSandbox,
  probeSandbox,
  sandboxLayout,
  sandboxedArgv,
  type SandboxLayout,
  type SandboxOptions,
} from "./sandbox.js";
export {
  CORE_ENVIRONMENT_VARIABLES,
  DEFAULT_ENVIRONMENT_EXCLUDES,
  DEFAULT_SHELL_ENVIRONMENT_POLICY,
  commandEnvironment,
  environmentPatternMatches,
} from "./environment.js";
export {
  TRUSTED_PATH,
  applyCommandEnvironment,
  commandApprovalKey,
  decideCommand,
  escalationRejectedMessage,
  gitRepositoryAllowsSafeRun,
  isKnownSafeCommand,
  isLikelySandboxDenial,
  safeCommandEnvironment,
  type CommandAssessmentInput,
  type CommandDecision,
  type CommandEnvironment,
} from "./safety.js";
export { PLAN_UPDATED_OUTPUT, parsePlanArguments, type PlanUpdate, type UpdatePlanArgs } from "./plan.js";
