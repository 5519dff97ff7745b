// Whether a shell call may run now (in the sandbox, or outside it), must wait for the user's approval, or is
// refused: Codex's approval rules over a real sandbox (sandbox.ts).
//
// "Known safe" (runs without asking under `untrusted` and `on-request`) is judged on exactly the argv that will
// run, never on a guess: a `bash -lc` script only when every word in it is plain (shell-words.ts), options only
// from a per-program allow-list, programs only by bare name or by their path in /bin or /usr/bin, no operand
// under /proc or /dev. A known-safe command must then run with `safeCommandEnvironment` over its environment
// (a fixed PATH; for git, repository config programs switched off), and git only in a repository whose own
// config holds nothing that could name a program (`gitRepositoryAllowsSafeRun`); `decideCommand` does both.
import type * as ChildProcesses from "node:child_process";
import path from "node:path";
import { requireBuiltin } from "../util/builtin.js";
import type { AskForApproval, SandboxPolicy } from "../protocol/index.js";
import { shellInvocation, splitPlainScript } from "./shell-words.js";


/** Variables to set over a command's environment; `undefined` removes one. */
export type CommandEnvironment = Readonly<Record<string, string | undefined>>;

/**
 * What to do with a command. `run`: now, inside the session's sandbox when `sandboxed` (with `env` applied over
 * its environment when present); `ask`: the user decides, and a command they approve runs outside the sandbox
 * (as in Codex); `reject`: never.
 */
export type CommandDecision =
  | { verdict: "run"; sandboxed: boolean; env?: CommandEnvironment }
  | { verdict: "ask" }
  | { verdict: "reject" };

export type CommandAssessmentInput = {
  command: readonly string[];
  approvalPolicy: AskForApproval;
  sandboxPolicy: SandboxPolicy;
  /** Keys (`commandApprovalKey`) of commands the user approved for the rest of the session. */
  approvedForSession: ReadonlySet<string>;
  /** The model asked to run outside the sandbox (`with_escalated_permissions`). */
  withEscalatedPermissions?: boolean | undefined;
  /**
   * The absolute directory the command runs in. Without it, relative paths that climb with `..` are unknown,
   * and git is never known safe (its repository cannot be checked).
   */
  cwd?: string | undefined;
};

/** Where bare program names are looked up when a known-safe command runs: root-owned, never the cwd. */
export const TRUSTED_PATH = "/usr/local/bin:/usr/bin:/bin";


/**
 * The decision for a shell call, with the environment a command that runs because it is known safe must get.
 * Git commands are only known safe once `gitRepositoryAllowsSafeRun` has passed in `input.cwd`, run with
 * `baseEnv` (the environment the command will start from) under the safe environment.
 */
export async function decideCommand(
  input: CommandAssessmentInput,
  options: { baseEnv?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<CommandDecision> {
  const early = decideWithoutRules(input);
  if (early !== undefined) return early;
  const judgement = judge(input.command, input.cwd);
  if (judgement === undefined) return { verdict: "ask" };
  const env = safeCommandEnvironment(input.command);
  if (judgement.git) {
    if (input.cwd === undefined) return { verdict: "ask" };
    const gitEnv = applyCommandEnvironment(options.baseEnv ?? process.env, env);
    if (!(await gitRepositoryAllowsSafeRun(input.cwd, gitEnv, options.signal))) return { verdict: "ask" };
  }
  return { verdict: "run", sandboxed: true, env };
}

/** The decision when "known safe" does not matter: rejected escalations, session approvals, permissive policies. */
/**
 * Codex's policies with the sandbox underneath; only `untrusted` rests on "known safe":
 * - `never`: run in the sandbox, never ask (a command the sandbox stops just fails).
 * - `on-failure`: run in the sandbox; when the sandbox stops it, the user is asked to run it outside
 *   (`isLikelySandboxDenial`, applied after the run).
 * - `on-request`: run in the sandbox; the model may ask for escalated permissions, which the user decides.
 * - `untrusted`: run known-safe commands in the sandbox; ask for the rest.
 * A command the user approved for the session runs outside the sandbox, as an approved one does.
 */
function decideWithoutRules(input: CommandAssessmentInput): CommandDecision | undefined {
  // As in Codex, asking to escape the sandbox is only meaningful when the model may request approvals.
  if (input.withEscalatedPermissions && input.approvalPolicy !== "on-request") return { verdict: "reject" };
  if (input.approvedForSession.has(commandApprovalKey(input.command))) return { verdict: "run", sandboxed: false };
  switch (input.approvalPolicy) {
    case "never":
    case "on-failure":
      return { verdict: "run", sandboxed: true };
    case "on-request":
      return input.withEscalatedPermissions ? { verdict: "ask" } : { verdict: "run", sandboxed: true };
    case "untrusted":
      return undefined;
  }
}

const SANDBOX_DENIAL = [/operation not permitted/i, /permission denied/i, /read-only file system/i, /network is unreachable/i, /could not resolve host/i, /connection refused/i];

/** Whether a sandboxed command's failure looks like the sandbox stopping it (Codex asks to retry outside then). */
export function isLikelySandboxDenial(exitCode: number, output: string): boolean {
  return exitCode !== 0 && SANDBOX_DENIAL.some((pattern) => pattern.test(output));
}

/** The model-facing reason for a `reject` assessment. */
export function escalationRejectedMessage(policy: AskForApproval): string {
  return `approval policy is ${policy}; reject command — you should not ask for escalated permissions if the approval policy is ${policy}`;
}

/** The key a session stores when the user answers `approved_for_session`. */
export function commandApprovalKey(command: readonly string[]): string {
  return JSON.stringify(command);
}

/**
 * Whether the rules call the command read-only, given that it runs with `safeCommandEnvironment` (and, for
 * git, in a repository `gitRepositoryAllowsSafeRun` accepts). `bash -lc` scripts only when every command in
 * them is. `cwd` is the directory it runs in (see `CommandAssessmentInput.cwd`).
 */
export function isKnownSafeCommand(command: readonly string[], cwd?: string): boolean {
  return judge(command, cwd) !== undefined;
}

// ---------------------------------------------------------------------------------------------------------
// The environment

/**
 * Git settings that switch off every program a read-only command could take from configuration with a fixed
 * name (environment config has the last word over every config file). Per-driver programs (`filter.<x>.clean`,
 * `diff.<x>.textconv`, `diff.<x>.command`) and `diff.external` cannot be switched off this way (an empty
 * `diff.external` makes git try to run ""), hence `gitRepositoryAllowsSafeRun`.
 */
const GIT_CONFIG_OVERRIDES: readonly (readonly [key: string, value: string])[] = [
  // status and diff refresh the index through the fsmonitor hook program.
  ["core.fsmonitor", "false"],
  // status may write the index, which runs the post-index-change hook.
  ["core.hooksPath", "/dev/null"],
  // No pager runs without a terminal, but never let configuration name one.
  ["core.pager", "cat"],
  // status and diff look inside submodules: another repository, whose config was never checked.
  ["diff.ignoreSubmodules", "all"],
  // Objects missing from a partial clone are fetched on demand: no transport, no ssh or remote helper.
  ["protocol.allow", "never"],
];

const GIT_ENVIRONMENT: CommandEnvironment = {
  GIT_CONFIG_NOSYSTEM: "1",
  ...Object.fromEntries(
    GIT_CONFIG_OVERRIDES.flatMap(([key, value], index) => [
      [`GIT_CONFIG_KEY_${index}`, key],
      [`GIT_CONFIG_VALUE_${index}`, value],
    ]),
  ),
  GIT_CONFIG_COUNT: String(GIT_CONFIG_OVERRIDES.length),
  // Read before GIT_CONFIG_COUNT's entries would be, so it could undo them.
  GIT_CONFIG_PARAMETERS: undefined,
  GIT_EXTERNAL_DIFF: undefined,
  GIT_PAGER: "cat",
  PAGER: "cat",
  // status must not write the index (nor take its lock) for a read.
  GIT_OPTIONAL_LOCKS: "0",
  GIT_NO_LAZY_FETCH: "1",
  GIT_TERMINAL_PROMPT: "0",
};

const BASE_ENVIRONMENT: CommandEnvironment = {
  // `ls` or `bash` is never a file in the cwd (nor anywhere a relative PATH entry leads).
  PATH: TRUSTED_PATH,
  // `cd x` stays below the cwd.
  CDPATH: undefined,
  // Nor is a library: an empty or relative entry (`/opt/lib:`) searches the cwd. The programs allowed live in
  // /usr/bin and need none of these.
  LD_LIBRARY_PATH: undefined,
  LD_PRELOAD: undefined,
  LD_AUDIT: undefined,
  // Option files add arguments the rules never saw (a ripgrep config can hold `--pre`).
  RIPGREP_CONFIG_PATH: undefined,
  GREP_OPTIONS: undefined,
};

/**
 * The variables a known-safe command must run with, set over its usual environment (`applyCommandEnvironment`):
 * `BASE_ENVIRONMENT`, and for a command that runs git, `GIT_ENVIRONMENT`.
 */
export function safeCommandEnvironment(command: readonly string[]): CommandEnvironment {
  const git = commandsOf(command)?.some((argv) => programName(argv[0]) === "git") ?? false;
  return git ? { ...BASE_ENVIRONMENT, ...GIT_ENVIRONMENT } : BASE_ENVIRONMENT;
}

/** `base` with `env` applied: its strings set, its `undefined`s removed. */
export function applyCommandEnvironment(base: NodeJS.ProcessEnv, env: CommandEnvironment): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = { ...base };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete result[name];
    else result[name] = value;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// The repository check for git

/**
 * Keys a repository's own config (local and worktree scopes, included files too) may set for git to be known
 * safe there: what `git init`, `git clone`, branch tracking and submodules write, none of which names a program
 * or changes what a read-only command runs. Anything else (filter and diff drivers, `diff.external`, aliases,
 * `include.path`, `core.sshCommand`, gpg settings, `core.worktree` pointing anywhere ...) means asking.
 */
const REPOSITORY_CONFIG_ALLOWED: readonly RegExp[] = [
  /^core\.(repositoryformatversion|filemode|bare|logallrefupdates|ignorecase|precomposeunicode|symlinks|autocrlf|eol|safecrlf|quotepath|checkstat|trustctime|sparsecheckout|sparsecheckoutcone)$/,
  /^remote\.[^\n]+\.(url|pushurl|fetch|push|tagopt|prune)$/,
  /^branch\.[^\n]+\.(remote|merge|rebase|pushremote|description)$/,
  /^submodule\.[^\n]+\.(url|active)$/,
  /^user\.(name|email)$/,
  /^(pull\.rebase|pull\.ff|push\.default|push\.autosetupremote|fetch\.prune|init\.defaultbranch|remote\.pushdefault)$/,
  /^extensions\.(objectformat|worktreeconfig)$/,
  /^lfs\.repositoryformatversion$/,
];

const GIT_CHECK_TIMEOUT_MS = 5_000;

/**
 * Whether git may run a known-safe command in `cwd`: the repository's own config sets only
 * `REPOSITORY_CONFIG_ALLOWED` keys, and it has no `.gitmodules` (in the work tree, the index or HEAD), whose
 * `submodule.<name>.ignore` would override `diff.ignoreSubmodules` and let status run a submodule's programs.
 * `env` must be the environment the command gets (`safeCommandEnvironment` applied). False when git fails.
 * The global config is the user's own, and is trusted.
 */
export async function gitRepositoryAllowsSafeRun(cwd: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<boolean> {
  const [config, gitmodules, headGitmodules] = await Promise.all([
    runGit(["config", "--list", "--show-scope", "--name-only", "-z"], cwd, env, signal),
    runGit(["ls-files", "-z", "--cached", "--others", "--", ":/.gitmodules"], cwd, env, signal),
    runGit(["cat-file", "-e", "HEAD:.gitmodules"], cwd, env, signal),
  ]);
  if (config.code !== 0 || gitmodules.code !== 0 || gitmodules.stdout !== "" || headGitmodules.code === 0) return false;
  const fields = config.stdout.split("\0");
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const scope = fields[i] ?? "";
    const key = fields[i + 1] ?? "";
    if (scope === "system" || scope === "global" || scope === "command") continue;
    if (!REPOSITORY_CONFIG_ALLOWED.some((allowed) => allowed.test(key))) return false;
  }
  return true;
}

function runGit(args: string[], cwd: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    requireBuiltin<typeof ChildProcesses>("node:child_process").execFile("git", args, { cwd, env, signal, timeout: GIT_CHECK_TIMEOUT_MS, maxBuffer: 1024 * 1024, encoding: "utf8" }, (error, stdout) => {
      if (error === null) resolve({ code: 0, stdout });
      else resolve({ code: typeof error.code === "number" ? error.code : null, stdout });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// The rules

type Judgement = { git: boolean };

/** The commands a call runs: its argv, or each command of a plain `bash -lc` script; undefined if unreadable. */
function commandsOf(command: readonly string[]): (readonly string[])[] | undefined {
  const invocation = shellInvocation(command);
  return invocation === undefined ? [command] : splitPlainScript(invocation.script, invocation.dialect);
}

/** Undefined when the command is not known safe; else whether it runs git (which needs the repository check). */
function judge(command: readonly string[], cwd: string | undefined): Judgement | undefined {
  if (cwd !== undefined && (!path.posix.isAbsolute(cwd) || isSpecialPath(path.posix.resolve(cwd)))) return undefined;
  const commands = commandsOf(command);
  if (commands === undefined || commands.length === 0) return undefined;
  const places = new Places(cwd);
  let git = false;
  for (const argv of commands) {
    const program = programName(argv[0]);
    const rule = program === undefined ? undefined : RULES.get(program);
    if (rule === undefined) return undefined;
    const args = argv.slice(1);
    if (program === "git") {
      // Its repository is checked in the call's cwd: not after a `cd`.
      if (places.moved) return undefined;
      git = true;
    }
    if (!rule(args, places)) return undefined;
    if (program === "cd" && !places.cd(args[0] ?? "")) return undefined;
  }
  return { git };
}

/** The program a word names: a bare name, or `/bin/<name>` or `/usr/bin/<name>`; never any other path. */
function programName(word: string | undefined): string | undefined {
  if (word === undefined || word === "") return undefined;
  if (!word.includes("/")) return word;
  const match = /^\/(?:usr\/)?bin\/([^/]+)$/.exec(word);
  return match?.[1];
}

// ---- Paths

const SPECIAL_ROOTS = ["/proc", "/dev"];

function isSpecialPath(absolute: string): boolean {
  return SPECIAL_ROOTS.some((root) => absolute === root || absolute.startsWith(`${root}/`));
}

/**
 * The directories a command may run in: the call's cwd (undefined: an ordinary directory we were not told,
 * never `/` or under /proc or /dev), then wherever an earlier `cd` of the script may have gone (it may also
 * have failed, or run in a pipeline's subshell, so every earlier place stays possible).
 */
class Places {
  private dirs: (string | undefined)[];
  moved = false;

  constructor(cwd: string | undefined) {
    this.dirs = [cwd === undefined ? undefined : path.posix.resolve(cwd)];
  }

  /** Whether `word`, taken as a path, names nothing under /proc or /dev from any of the places. */
  allows(word: string): boolean {
    return this.dirs.every((dir) => this.resolve(dir, word) !== null);
  }

  cd(word: string): boolean {
    const next = this.dirs.map((dir) => this.resolve(dir, word));
    if (next.includes(null) || this.dirs.length > 16) return false;
    for (const dir of next) if (dir !== null && !this.dirs.includes(dir)) this.dirs.push(dir);
    this.moved = true;
    return true;
  }

  /** Where `word` leads from `dir` (undefined: still an unknown ordinary directory); null if it may be special. */
  private resolve(dir: string | undefined, word: string): string | undefined | null {
    let target: string | undefined;
    if (path.posix.isAbsolute(word)) target = path.posix.resolve(word);
    else if (dir !== undefined) target = path.posix.resolve(dir, word);
    else if (word.split("/").includes("..")) return null;
    else return undefined;
    return isSpecialPath(target) ? null : target;
  }
}

// ---- Options

/** A program's allowed options: anything else starting with `-` (before a `--`) makes the command unknown. */
type OptionSpec = {
  /** Short options without a value, which may be grouped: `-la`. */
  flags?: string;
  /** Short options with a value, attached (`-n5`) or the next word (`-n 5`). */
  valued?: string;
  /** Short options whose optional value is only ever attached: `-uno`. */
  attached?: string;
  long?: readonly string[];
  /** Long options with a value: `--name=value` or `--name value`. */
  longValued?: readonly string[];
  /** Long options whose optional value is only ever attached: `--color` or `--color=never`. */
  longAttached?: readonly string[];
  /** Counts such as `head -5`. */
  numeric?: boolean;
};

type ParsedArgs = { operands: string[]; values: string[] };

/**
 * Splits `args` by `spec`; undefined when an option is not allowed. A value in the next word may not start
 * with `-`: were the spec wrong about the option taking one, that word would be read as an option, unchecked.
 */
function parseArgs(args: readonly string[], spec: OptionSpec): ParsedArgs | undefined {
  const operands: string[] = [];
  const values: string[] = [];
  const nextValue = (i: number): string | undefined => {
    const value = args[i + 1];
    return value === undefined || value.startsWith("-") ? undefined : value;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (arg === "--") {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      operands.push(arg);
    } else if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      const name = equals < 0 ? arg : arg.slice(0, equals);
      const attached = equals < 0 ? undefined : arg.slice(equals + 1);
      if (spec.long?.includes(name) && attached === undefined) continue;
      if (spec.longAttached?.includes(name)) {
        if (attached !== undefined) values.push(attached);
      } else if (spec.longValued?.includes(name)) {
        const value = attached ?? nextValue(i);
        if (value === undefined) return undefined;
        values.push(value);
        if (attached === undefined) i++;
      } else {
        return undefined;
      }
    } else if (spec.numeric && /^-\d+$/.test(arg)) {
      continue;
    } else {
      for (let j = 1; j < arg.length; j++) {
        const ch = arg.charAt(j);
        const rest = arg.slice(j + 1);
        if (spec.flags?.includes(ch)) continue;
        if (spec.attached?.includes(ch)) {
          values.push(rest);
        } else if (spec.valued?.includes(ch)) {
          const value = rest !== "" ? rest : nextValue(i);
          if (value === undefined) return undefined;
          values.push(value);
          if (rest === "") i++;
        } else {
          return undefined;
        }
        break;
      }
    }
  }
  return { operands, values };
}

type Rule = (args: readonly string[], places: Places) => boolean;

/** A rule for a program that takes `spec`'s options and any operands, none of them (nor values) special paths. */
function withOptions(spec: OptionSpec, operandsOk: (operands: string[]) => boolean = () => true): Rule {
  return (args, places) => {
    const parsed = parseArgs(args, spec);
    return (
      parsed !== undefined &&
      operandsOk(parsed.operands) &&
      [...parsed.operands, ...parsed.values].every((word) => places.allows(word))
    );
  };
}

const HEAD_TAIL: OptionSpec = {
  flags: "qvz",
  valued: "nc",
  long: ["--quiet", "--silent", "--verbose", "--zero-terminated"],
  longValued: ["--lines", "--bytes"],
  numeric: true,
};

const GREP: OptionSpec = {
  flags: "abcEFGhHiIlLnoPqrRsTUvwxyzZ",
  valued: "ABCdDefm",
  long: [
    "--count", "--recursive", "--dereference-recursive", "--ignore-case", "--no-ignore-case", "--line-number",
    "--files-with-matches", "--files-without-match", "--invert-match", "--word-regexp", "--line-regexp",
    "--extended-regexp", "--fixed-strings", "--basic-regexp", "--perl-regexp", "--only-matching", "--quiet",
    "--silent", "--no-messages", "--with-filename", "--no-filename", "--byte-offset", "--null", "--null-data",
    "--text", "--initial-tab", "--line-buffered",
  ],
  longValued: [
    "--regexp", "--file", "--max-count", "--after-context", "--before-context", "--context", "--include",
    "--exclude", "--exclude-dir", "--label", "--binary-files", "--directories",
  ],
  longAttached: ["--color", "--colour"],
};

// Never: --pre and --pre-glob (run a program per file), -z/--search-zip (run decompressors), --hostname-bin.
const RG: OptionSpec = {
  flags: "abcFHiIlLnNopPqsSuUvVwx0.",
  valued: "ABCeEfgjmMrtTd",
  long: [
    "--count", "--count-matches", "--files", "--files-with-matches", "--files-without-match", "--fixed-strings",
    "--follow", "--hidden", "--ignore-case", "--smart-case", "--case-sensitive", "--invert-match", "--json",
    "--line-number", "--no-line-number", "--heading", "--no-heading", "--with-filename", "--no-filename",
    "--no-ignore", "--no-ignore-vcs", "--no-ignore-parent", "--no-ignore-dot", "--null", "--only-matching",
    "--pcre2", "--multiline", "--multiline-dotall", "--quiet", "--stats", "--trim", "--vimgrep", "--word-regexp",
    "--line-regexp", "--unrestricted", "--column", "--no-column", "--byte-offset", "--passthru", "--text",
    "--binary", "--no-messages", "--type-list", "--sort-files", "--crlf", "--pretty", "--one-file-system",
    "--include-zero", "--no-require-git", "--no-config", "--help", "--version",
  ],
  longValued: [
    "--regexp", "--file", "--glob", "--iglob", "--type", "--type-not", "--type-add", "--after-context",
    "--before-context", "--context", "--max-count", "--max-depth", "--max-filesize", "--max-columns", "--replace",
    "--sort", "--sortr", "--threads", "--encoding", "--engine", "--color", "--colors", "--context-separator",
    "--path-separator",
  ],
};

const LS: OptionSpec = {
  flags: "aAbBcCdfFgGhHiklLmnNopqQrRsStuUvxXZ1",
  valued: "ITw",
  long: [
    "--all", "--almost-all", "--human-readable", "--si", "--recursive", "--reverse", "--directory", "--classify",
    "--inode", "--size", "--full-time", "--group-directories-first", "--numeric-uid-gid", "--no-group",
    "--dereference", "--literal", "--escape", "--quote-name", "--author", "--context",
  ],
  longValued: ["--sort", "--time", "--time-style", "--format", "--ignore", "--hide", "--width", "--block-size", "--indicator-style", "--quoting-style"],
  longAttached: ["--color", "--hyperlink"],
};

/** Options of log, show and diff that only change what is printed. */
const GIT_DIFF_FLAGS = "puswbR";
const GIT_DIFF_LONG = [
  "--patch", "--no-patch", "--raw", "--shortstat", "--numstat", "--name-only", "--name-status", "--summary",
  "--no-color", "--ignore-all-space", "--ignore-space-change", "--ignore-blank-lines", "--ignore-cr-at-eol",
  "--minimal", "--patience", "--histogram", "--no-renames", "--no-ext-diff", "--no-textconv", "--full-index",
  "--binary", "--abbrev-commit", "--no-abbrev-commit", "--oneline", "--quiet",
];
const GIT_DIFF_ATTACHED = ["--stat", "--color", "--word-diff", "--find-renames", "--abbrev", "--relative"];
const GIT_DIFF_VALUED = ["--unified", "--diff-algorithm", "--diff-filter", "--format", "--date"];

/**
 * Read-only git subcommands and their allowed options. Never: `--output` (writes a file), `--ext-diff` and
 * `--textconv` (run configured programs), `--no-index` (any two files), `--ignore-submodules` and `--submodule`
 * (look into another repository), and no option before the subcommand but `--no-pager`.
 */
const GIT_SUBCOMMANDS: ReadonlyMap<string, OptionSpec> = new Map(Object.entries({
  status: {
    flags: "sbz",
    attached: "u",
    long: ["--short", "--branch", "--long", "--show-stash", "--ahead-behind", "--no-ahead-behind", "--renames", "--no-renames", "--null"],
    longAttached: ["--porcelain", "--untracked-files", "--ignored", "--find-renames"],
  },
  log: {
    flags: GIT_DIFF_FLAGS,
    valued: "nU",
    numeric: true,
    long: [
      ...GIT_DIFF_LONG, "--graph", "--no-decorate", "--all", "--reverse", "--first-parent", "--no-merges", "--merges",
      "--follow", "--full-history", "--date-order", "--topo-order", "--author-date-order", "--relative-date",
      "--source", "--left-right", "--cherry-pick", "--boundary", "--no-walk",
    ],
    longAttached: [...GIT_DIFF_ATTACHED, "--decorate", "--branches", "--tags", "--remotes", "--pretty"],
    longValued: [...GIT_DIFF_VALUED, "--max-count", "--skip", "--since", "--after", "--until", "--before", "--author", "--committer", "--grep"],
  },
  show: {
    flags: GIT_DIFF_FLAGS,
    valued: "U",
    long: GIT_DIFF_LONG,
    longAttached: [...GIT_DIFF_ATTACHED, "--pretty"],
    longValued: GIT_DIFF_VALUED,
  },
  diff: {
    flags: GIT_DIFF_FLAGS,
    valued: "U",
    long: [...GIT_DIFF_LONG, "--cached", "--staged", "--merge-base", "--check", "--exit-code"],
    longAttached: GIT_DIFF_ATTACHED,
    longValued: GIT_DIFF_VALUED,
  },
  branch: {
    flags: "arv",
    long: ["--list", "--show-current", "--all", "--remotes", "--verbose", "--no-color", "--no-column"],
    longValued: ["--format", "--sort"],
  },
}));

const git: Rule = (args, places) => {
  const start = args[0] === "--no-pager" ? 1 : 0;
  const subcommand = args[start];
  const spec = subcommand === undefined ? undefined : GIT_SUBCOMMANDS.get(subcommand);
  if (spec === undefined) return false;
  const rest = args.slice(start + 1);
  const parsed = parseArgs(rest, spec);
  if (parsed === undefined) return false;
  // `git branch <name>` creates a branch; with --list (before any `--`) its operands are patterns.
  const end = rest.indexOf("--");
  const listing = (end < 0 ? rest : rest.slice(0, end)).includes("--list");
  if (subcommand === "branch" && parsed.operands.length > 0 && !listing) return false;
  // Signature placeholders (log's %G?, %GS ...; branch's %(signature)) run gpg on the repository's data.
  if (parsed.values.some((value) => value.includes("%G") || value.includes("%(signature"))) return false;
  return [...parsed.operands, ...parsed.values].every((word) => places.allows(word));
};

// find: read-only tests, options and actions; never -exec*, -ok*, -delete, -fprint*, -fls, -files0-from.
const FIND_ALONE = new Set([
  "-depth", "-xdev", "-mount", "-follow", "-noleaf", "-ignore_readdir_race", "-noignore_readdir_race", "-warn",
  "-nowarn", "-daystart", "-empty", "-true", "-false", "-nouser", "-nogroup", "-readable", "-writable",
  "-executable", "-print", "-print0", "-ls", "-prune", "-quit", "-not", "-a", "-and", "-o", "-or", "(", ")", "!",
  ",",
]);
const FIND_WITH_VALUE = new Set([
  "-maxdepth", "-mindepth", "-regextype", "-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename",
  "-regex", "-iregex", "-lname", "-ilname", "-type", "-xtype", "-size", "-perm", "-user", "-group", "-uid", "-gid",
  "-links", "-inum", "-samefile", "-newer", "-anewer", "-cnewer", "-mtime", "-mmin", "-atime", "-amin", "-ctime",
  "-cmin", "-used", "-fstype", "-printf",
]);

const find: Rule = (args, places) => {
  let i = 0;
  while (args[i] === "-H" || args[i] === "-L" || args[i] === "-P") i++;
  // Starting points run up to the expression; none of them can look like part of it.
  for (; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (arg.startsWith("-") || FIND_ALONE.has(arg)) break;
    if (!places.allows(arg)) return false;
  }
  for (; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (FIND_ALONE.has(arg)) continue;
    if (!FIND_WITH_VALUE.has(arg) && !/^-newer[aBcmt]{2}$/.test(arg)) return false;
    const value = args[++i];
    // Values are numbers like `-7` when they start with `-`, never a word find could take for a primary.
    if (value === undefined || (value.startsWith("-") && !/^-\d/.test(value)) || !places.allows(value)) return false;
  }
  return true;
};

// sed: only printing lines, `sed -n 10p` or `sed -n 10,20p`, of one file that is not an option (GNU sed takes
// options after operands: `sed -n 1p "-ew victim"` writes `victim`), or of its input.
const sed: Rule = (args, places) => {
  const [flag, script, file, ...rest] = args;
  if (flag !== "-n" || script === undefined || !/^\d+(,\d+)?p$/.test(script) || rest.length > 0) return false;
  return file === undefined || (!file.startsWith("-") && places.allows(file));
};

// cd: to one directory, never `cd`, `cd -` or an option; `Places` follows it.
const cd: Rule = (args) => args.length === 1 && args[0] !== undefined && args[0] !== "" && !args[0].startsWith("-");

// A Map, not an object: `toString` or `constructor` must not find a rule on Object.prototype.
const RULES: ReadonlyMap<string, Rule> = new Map(Object.entries({
  basename: withOptions({ flags: "az", valued: "s", long: ["--multiple", "--zero"], longValued: ["--suffix"] }),
  cat: withOptions({
    flags: "AbeEnstTuv",
    long: ["--show-all", "--number-nonblank", "--show-ends", "--number", "--squeeze-blank", "--show-tabs", "--show-nonprinting"],
  }),
  cd,
  dirname: withOptions({ flags: "z", long: ["--zero"] }),
  echo: withOptions({ flags: "neE" }),
  false: withOptions({}),
  find,
  git,
  grep: withOptions(GREP),
  head: withOptions(HEAD_TAIL),
  id: withOptions({ flags: "gGnruz" }),
  ls: withOptions(LS),
  nl: withOptions({ flags: "p", valued: "bdfhilnsvw" }),
  // No options: the bash builtin's `-v var` assigns a variable (PATH, say) for the commands after it.
  printf: withOptions({}),
  pwd: withOptions({ flags: "LP" }),
  readlink: withOptions({
    flags: "femnqsvz",
    long: ["--canonicalize", "--canonicalize-existing", "--canonicalize-missing", "--no-newline", "--quiet", "--silent", "--verbose", "--zero"],
  }),
  realpath: withOptions({
    flags: "eLmPqsz",
    long: ["--canonicalize-existing", "--canonicalize-missing", "--logical", "--physical", "--quiet", "--strip", "--no-symlinks", "--zero"],
    longValued: ["--relative-to", "--relative-base"],
  }),
  rg: withOptions(RG),
  sed,
  stat: withOptions({ flags: "LftZ", valued: "c", long: ["--dereference", "--file-system", "--terse"], longValued: ["--format", "--printf"] }),
  // No -f/-F: following never ends.
  tail: withOptions(HEAD_TAIL),
  true: withOptions({}),
  wc: withOptions({ flags: "clmwL", long: ["--bytes", "--chars", "--lines", "--words", "--max-line-length"] }),
  which: withOptions({ flags: "a" }),
  whoami: withOptions({}),
}));
