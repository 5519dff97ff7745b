// Whether a shell call may run now, must wait for the user's approval, or is refused: Codex's approval
// rules, adapted to a port that has no sandbox yet.
import { sandboxMode, type AskForApproval, type SandboxPolicy } from "../protocol/index.js";
import { shellScriptOf, splitPlainScript } from "./shell-words.js";

export type CommandAssessment = "run" | "ask" | "reject";

export type CommandAssessmentInput = {
  command: readonly string[];
  approvalPolicy: AskForApproval;
  sandboxPolicy: SandboxPolicy;
  /** Keys (`commandApprovalKey`) of commands the user approved for the rest of the session. */
  approvedForSession: ReadonlySet<string>;
  /** The model asked to run outside the sandbox (`with_escalated_permissions`). */
  withEscalatedPermissions?: boolean | undefined;
};

type Facts = { knownSafe: boolean; fullAccess: boolean };

/**
 * No sandbox is implemented, so every sandbox policy but danger-full-access is one we cannot enforce:
 * - `never`: run. Codex never asks under this policy; it would run the command in the sandbox, and with
 *   none there is nothing else to do. The user chose to never be asked.
 * - `on-failure`: run. Codex asks only after a sandboxed run fails; without a sandbox nothing fails that
 *   way, so there is never anything to escalate.
 * - `on-request`: run known-safe commands; ask for the rest, since nothing would confine them, unless the
 *   sandbox policy is danger-full-access, where the user already granted full access.
 * - `untrusted`: run only known-safe commands, ask for the rest, whatever the sandbox policy.
 */
const RULES: Record<AskForApproval, (facts: Facts) => "run" | "ask"> = {
  never: () => "run",
  "on-failure": () => "run",
  "on-request": ({ knownSafe, fullAccess }) => (knownSafe || fullAccess ? "run" : "ask"),
  untrusted: ({ knownSafe }) => (knownSafe ? "run" : "ask"),
};

export function assessCommand(input: CommandAssessmentInput): CommandAssessment {
  // As in Codex, asking to escape the sandbox is only meaningful when the model may request approvals.
  if (input.withEscalatedPermissions && input.approvalPolicy !== "on-request") return "reject";
  if (input.approvedForSession.has(commandApprovalKey(input.command))) return "run";
  return RULES[input.approvalPolicy]({
    knownSafe: isKnownSafeCommand(input.command),
    fullAccess: sandboxMode(input.sandboxPolicy) === "danger-full-access",
  });
}

/** The model-facing reason for a `reject` assessment. */
export function escalationRejectedMessage(policy: AskForApproval): string {
  return `approval policy is ${policy}; reject command — you should not ask for escalated permissions if the approval policy is ${policy}`;
}

/** The key a session stores when the user answers `approved_for_session`. */
export function commandApprovalKey(command: readonly string[]): string {
  return JSON.stringify(command);
}

/** Read-only commands that may run without asking; `bash -lc` scripts only when every command in them is. */
export function isKnownSafeCommand(command: readonly string[]): boolean {
  const script = shellScriptOf(command);
  if (script === undefined) return isSafeArgv(command);
  const commands = splitPlainScript(script);
  return commands !== undefined && commands.every(isSafeArgv);
}

// Bare names only: `./ls` or `/tmp/cat` could be a file the model just wrote.
const ALWAYS_SAFE = new Set([
  "basename", "cat", "cd", "dirname", "echo", "false", "grep", "head", "id", "ls", "nl", "printf", "pwd",
  "readlink", "realpath", "stat", "tail", "true", "wc", "which", "whoami",
]);

const FIND_UNSAFE = new Set(["-exec", "-execdir", "-ok", "-okdir", "-delete", "-fls", "-fprint", "-fprint0", "-fprintf"]);
// External preprocessors and decompressors run other programs.
const RG_UNSAFE = ["--pre", "--hostname-bin", "--search-zip", "-z"];
const GIT_READ_ONLY = new Set(["status", "log", "diff", "show"]);
// --output writes a file; external diff and textconv drivers run programs from the repository's config.
const GIT_UNSAFE = ["--output", "--ext-diff", "--textconv"];

function isSafeArgv(argv: readonly string[]): boolean {
  const [program, ...args] = argv;
  if (program === undefined) return false;
  if (ALWAYS_SAFE.has(program)) return true;
  switch (program) {
    case "find":
      return !args.some((arg) => FIND_UNSAFE.has(arg));
    case "rg":
      return !args.some((arg) => RG_UNSAFE.some((flag) => arg === flag || arg.startsWith(`${flag}=`)));
    case "git": {
      const [sub, ...rest] = args;
      if (sub === "branch") return rest.every((arg) => ["--show-current", "--list", "-a", "-r", "-v", "-vv"].includes(arg));
      return sub !== undefined && GIT_READ_ONLY.has(sub) && !rest.some((arg) => GIT_UNSAFE.some((flag) => arg.startsWith(flag)));
    }
    case "sed":
      // Only printing a line range: `sed -n 10,20p file`.
      return args[0] === "-n" && /^\d+(,\d+)?p$/.test(args[1] ?? "") && args.length <= 3;
    default:
      return false;
  }
}
