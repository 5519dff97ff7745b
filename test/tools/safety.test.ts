// The approval rules as tables: policy × sandbox × command → run, ask or reject; then attacks that must be
// asked, commands that must still run, the environment known-safe commands get, and the repository check.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { AskForApproval, SandboxPolicy } from "../../src/protocol/index.js";
import {
  TRUSTED_PATH,
  applyCommandEnvironment,
  commandApprovalKey,
  decideCommand,
  gitRepositoryAllowsSafeRun,
  isKnownSafeCommand,
  safeCommandEnvironment,
  type CommandAssessmentInput,
} from "../../src/tools/index.js";

const READ_ONLY: SandboxPolicy = { mode: "read-only" };
const WORKSPACE: SandboxPolicy = { mode: "workspace-write" };
const FULL_ACCESS: SandboxPolicy = { mode: "danger-full-access" };
const FULL_ACCESS_NEW_TAG: SandboxPolicy = { type: "danger-full-access" };

const SAFE = ["ls", "-la"];
const UNSAFE = ["rm", "-rf", "build"];

/** A fresh git repository (no commit) with a `src` directory; tests remove it. */
function makeRepo(prefix = "llmx-safety-"): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  git(dir, "init", "-q");
  mkdirSync(path.join(dir, "src"));
  return dir;
}

function git(cwd: string, ...args: string[]): string {
  const result = spawnSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1" } });
  if (result.status !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

let repo: string;
beforeAll(() => {
  repo = makeRepo();
});
afterAll(() => {
  rmSync(repo, { recursive: true, force: true });
});

function input(command: readonly string[], overrides: Partial<CommandAssessmentInput> = {}): CommandAssessmentInput {
  return { command, approvalPolicy: "untrusted", sandboxPolicy: READ_ONLY, approvedForSession: new Set(), cwd: repo, ...overrides };
}

async function verdict(command: readonly string[], overrides: Partial<CommandAssessmentInput> = {}): Promise<string> {
  return (await decideCommand(input(command, overrides))).verdict;
}

describe("decideCommand: policies", () => {
  test.each<[AskForApproval, SandboxPolicy, string[], "run" | "ask"]>([
    ["never", READ_ONLY, UNSAFE, "run"],
    ["never", FULL_ACCESS, UNSAFE, "run"],
    ["on-failure", READ_ONLY, UNSAFE, "run"],
    ["on-failure", WORKSPACE, SAFE, "run"],
    ["on-request", READ_ONLY, SAFE, "run"],
    ["on-request", READ_ONLY, UNSAFE, "run"],
    ["on-request", WORKSPACE, UNSAFE, "run"],
    ["on-request", FULL_ACCESS, UNSAFE, "run"],
    ["on-request", FULL_ACCESS_NEW_TAG, UNSAFE, "run"],
    ["untrusted", READ_ONLY, SAFE, "run"],
    ["untrusted", READ_ONLY, UNSAFE, "ask"],
    ["untrusted", FULL_ACCESS, UNSAFE, "ask"],
  ])("%s with %o: %o → %s", async (approvalPolicy, sandboxPolicy, command, expected) => {
    expect(await verdict(command, { approvalPolicy, sandboxPolicy })).toBe(expected);
  });

  test("whatever runs unasked runs in the sandbox; an approved command runs outside it", async () => {
    for (const approvalPolicy of ["never", "on-failure", "on-request"] as const) {
      expect(await decideCommand(input(UNSAFE, { approvalPolicy }))).toEqual({ verdict: "run", sandboxed: true });
    }
    expect(await decideCommand(input(SAFE))).toMatchObject({ verdict: "run", sandboxed: true });
    const approvedForSession = new Set([commandApprovalKey(UNSAFE)]);
    expect(await decideCommand(input(UNSAFE, { approvedForSession }))).toEqual({ verdict: "run", sandboxed: false });
  });

  test("a command approved for the session runs without asking again, and only that exact argv", async () => {
    const approvedForSession = new Set([commandApprovalKey(UNSAFE)]);
    expect(await verdict(UNSAFE, { approvedForSession })).toBe("run");
    expect(await verdict(["rm", "-rf", "src"], { approvedForSession })).toBe("ask");
  });

  test("escalated permissions are refused unless the policy lets the model ask for approval", async () => {
    const assess = (approvalPolicy: AskForApproval) => verdict(SAFE, { approvalPolicy, withEscalatedPermissions: true });
    expect(await assess("never")).toBe("reject");
    expect(await assess("untrusted")).toBe("reject");
    expect(await assess("on-failure")).toBe("reject");
    expect(await assess("on-request")).toBe("ask");
  });

  test("only a run that rests on the rules carries the safe environment", async () => {
    expect(await decideCommand(input(SAFE))).toEqual({ verdict: "run", sandboxed: true, env: safeCommandEnvironment(SAFE) });
    expect(await decideCommand(input(SAFE, { approvalPolicy: "never" }))).toEqual({ verdict: "run", sandboxed: true });
    expect(await decideCommand(input(SAFE, { approvalPolicy: "on-request", sandboxPolicy: FULL_ACCESS }))).toEqual({ verdict: "run", sandboxed: true });
    expect(await decideCommand(input(SAFE, { approvedForSession: new Set([commandApprovalKey(SAFE)]) }))).toEqual({ verdict: "run", sandboxed: false });
  });
});

/**
 * Commands that, with every request denied, must never run. Each would run something other than what its words
 * show, write, run a program of someone else's choosing, or read secrets. `cwd` defaults to a clean repository.
 */
const ATTACKS: [label: string, command: string[], cwd?: string][] = [
  // Shell expansion in scripts: the shell builds an argv the words do not show.
  ["brace builds -exec", ["bash", "-lc", "find . -maxdepth 0 {-true,-exec} sh -c 'id > f' \\;"]],
  ["brace builds -delete", ["bash", "-lc", "find . -name victim {-true,-delete}"]],
  ["glob expands to a file named -delete", ["bash", "-lc", "find . -name victim *"]],
  ["brace builds --output", ["bash", "-lc", "git log {--output=f,}"]],
  ["brace builds --pre", ["bash", "-lc", "rg --pr{e,}=sh foo"]],
  ["brace sequence", ["bash", "-lc", "ls {a..c}"]],
  ["glob as sed's file", ["bash", "-lc", "sed -n 1p *"]],
  ["question-mark glob", ["bash", "-lc", "cat ?delete"]],
  ["bracket glob", ["bash", "-lc", "find . [-]delete"]],
  ["tilde at word start", ["bash", "-lc", "cat ~/.ssh/id_rsa"]],
  ["tilde after =", ["bash", "-lc", "grep --file=~/.netrc x"]],
  ["tilde after :", ["bash", "-lc", "echo a:~"]],
  ["variable", ["bash", "-lc", "echo $OPENAI_API_KEY"]],
  ["braced variable", ["bash", "-lc", "echo ${OPENAI_API_KEY}"]],
  ["variable in double quotes", ["bash", "-lc", 'cat "$HOME/.netrc"']],
  ["ANSI-C quoting", ["bash", "-lc", "sed -n 1p $'-ew victim'"]],
  ["command substitution", ["bash", "-lc", "echo $(id > f)"]],
  ["backquotes", ["bash", "-lc", "echo `id`"]],
  ["backquotes in double quotes", ["bash", "-lc", 'echo "`id`"']],
  ["arithmetic expansion", ["bash", "-lc", "echo $((1))"]],
  ["process substitution", ["bash", "-lc", "cat <(id)"]],
  ["output process substitution", ["bash", "-lc", "ls >(cat)"]],
  ["zsh =cmd expansion", ["zsh", "-lc", "cat =ls"]],
  ["zsh ^ glob", ["zsh", "-lc", "ls ^a"]],
  // Redirections, here-docs, subshells, groups, chains to unsafe commands.
  ["output redirection", ["bash", "-lc", "echo hi > f"]],
  ["clobbering redirection", ["bash", "-lc", "ls >| f"]],
  ["input redirection", ["bash", "-lc", "cat < /etc/shadow"]],
  ["stderr redirection", ["bash", "-lc", "ls 2>f"]],
  ["here-doc", ["bash", "-lc", "cat <<EOF > f\nx\nEOF"]],
  ["subshell", ["bash", "-lc", "(ls; rm -rf x)"]],
  ["group", ["bash", "-lc", "{ ls; rm -rf x; }"]],
  ["background", ["bash", "-lc", "ls & rm -rf x"]],
  ["sequence with rm", ["bash", "-lc", "ls; rm -rf x"]],
  ["and with rm", ["bash", "-lc", "ls && rm -rf x"]],
  ["or with rm", ["bash", "-lc", "ls || rm -rf x"]],
  ["pipe into a shell", ["bash", "-lc", "cat x | sh"]],
  ["comment", ["bash", "-lc", "ls # x"]],
  ["assignment prefix", ["bash", "-lc", "PATH=. ls"]],
  ["printf -v assigns PATH", ["bash", "-lc", "printf -v PATH %s . && ls"]],
  ["nested shell", ["bash", "-lc", "bash -c ls"]],
  ["env runs anything", ["bash", "-lc", "env ls"]],
  // Options smuggled into read-only tools.
  ["sed writes with an option after its operand", ["sed", "-n", "1p", "-ew victim"]],
  ["sed -i after the file", ["sed", "-n", "1p", "x", "-i"]],
  ["sed w command", ["sed", "-n", "1w victim", "x"]],
  ["sed script with ;", ["sed", "-n", "1p;w victim", "x"]],
  ["sed -e", ["sed", "-e", "1p", "x"]],
  ["sed -i", ["sed", "-i", "s/a/b/", "x"]],
  ["find -exec", ["find", ".", "-exec", "rm", "{}", ";"]],
  ["find -execdir", ["find", ".", "-execdir", "sh", "-c", "id", ";"]],
  ["find -ok", ["find", ".", "-ok", "rm", "{}", ";"]],
  ["find -okdir", ["find", ".", "-okdir", "rm", "{}", ";"]],
  ["find -delete", ["find", ".", "-name", "victim", "-delete"]],
  ["find -fprint", ["find", ".", "-fprint", "out"]],
  ["find -fprint0", ["find", ".", "-fprint0", "out"]],
  ["find -fprintf", ["find", ".", "-fprintf", "out", "%p"]],
  ["find -fls", ["find", ".", "-fls", "out"]],
  ["find -files0-from", ["find", "-files0-from", "list"]],
  ["find -D", ["find", "-D", "exec", "."]],
  ["find unknown primary", ["find", ".", "-name", "x", "-frobnicate"]],
  ["find value that is a primary", ["find", ".", "-name", "-delete"]],
  ["find literal brace word", ["find", ".", "-name", "victim", "{-true,-delete}"]],
  ["rg --pre", ["rg", "--pre", "sh", "foo"]],
  ["rg --pre=", ["rg", "--pre=sh", "foo"]],
  ["rg --pre-glob", ["rg", "--pre-glob", "*", "foo"]],
  ["rg -z", ["rg", "-z", "foo"]],
  ["rg -z in a group", ["rg", "-iz", "foo"]],
  ["rg --search-zip", ["rg", "--search-zip", "foo"]],
  ["rg --hostname-bin", ["rg", "--hostname-bin=sh", "foo"]],
  ["rg value that looks like an option", ["rg", "-e", "--pre=sh", "foo"]],
  ["rg --pre after the pattern", ["rg", "foo", "src", "--pre=sh"]],
  ["grep reads patterns from /proc", ["grep", "-f", "/proc/self/environ", "x"]],
  ["grep --file from /proc", ["grep", "--file=/proc/self/environ", "x"]],
  ["wc --files0-from", ["wc", "--files0-from=list"]],
  ["tail -f never ends", ["tail", "-f", "log"]],
  ["printf -v", ["printf", "-v", "x", "y"]],
  ["echo unknown option", ["echo", "-x"]],
  ["ls unknown long option", ["ls", "--frobnicate"]],
  // git: configuration, other repositories, files written, programs run, mutations.
  ["git -c", ["git", "-c", "core.pager=sh", "log"]],
  ["git -c attached", ["git", "-ccore.fsmonitor=sh", "status"]],
  ["git --config-env", ["git", "--config-env=core.pager=X", "log"]],
  ["git -C", ["git", "-C", "/", "status"]],
  ["git --git-dir", ["git", "--git-dir=/tmp/x", "log"]],
  ["git --work-tree", ["git", "--work-tree=/", "status"]],
  ["git --exec-path", ["git", "--exec-path=/tmp", "status"]],
  ["git --paginate", ["git", "--paginate", "log"]],
  ["git log --output", ["git", "log", "--output=f"]],
  ["git diff --output", ["git", "diff", "--output", "f"]],
  ["git log --output abbreviated", ["git", "log", "--out=f"]],
  ["git diff --ext-diff", ["git", "diff", "--ext-diff"]],
  ["git log --textconv", ["git", "log", "-p", "--textconv"]],
  ["git diff --no-index", ["git", "diff", "--no-index", "/etc/passwd", "x"]],
  ["git status --ignore-submodules", ["git", "status", "--ignore-submodules=none"]],
  ["git diff --submodule", ["git", "diff", "--submodule=diff"]],
  ["git log signature placeholder", ["git", "log", "--format=%G?"]],
  ["git log signature placeholder, separate word", ["git", "log", "--format", "%GS"]],
  ["git branch signature atom", ["git", "branch", "--format=%(signature)"]],
  ["git log --show-signature", ["git", "log", "--show-signature"]],
  ["git branch creates", ["git", "branch", "new-branch"]],
  ["git branch -D", ["git", "branch", "-D", "main"]],
  ["git branch -m", ["git", "branch", "-m", "x"]],
  ["git branch --set-upstream-to", ["git", "branch", "--set-upstream-to=origin/x"]],
  ["git branch -l with a name (old git: create)", ["git", "branch", "-l", "x"]],
  ["git push", ["git", "push"]],
  ["git checkout", ["git", "checkout", "status"]],
  ["git config", ["git", "config", "core.pager", "sh"]],
  ["git alias", ["git", "st"]],
  ["git after cd: another repository", ["bash", "-lc", "cd src && git status"]],
  // Paths: /proc and /dev, however they are reached.
  ["environ of the command", ["cat", "/proc/self/environ"]],
  ["environ of another process", ["cat", "/proc/1/environ"]],
  ["head of environ", ["head", "-c", "100", "/proc/self/environ"]],
  ["cmdline", ["tail", "/proc/self/cmdline"]],
  ["grep environ", ["grep", "-a", "KEY", "/proc/self/environ"]],
  ["a device", ["cat", "/dev/sda"]],
  ["find from /proc", ["find", "/proc/self", "-name", "environ"]],
  ["find -newer a /proc file", ["find", ".", "-newer", "/proc/self/environ"]],
  ["double slash", ["cat", "//proc//self/environ"]],
  ["dot-dot into /proc", ["cat", "/usr/../proc/self/environ"]],
  ["relative climb to /proc", ["cat", "../../../../../../../../proc/self/environ"]],
  ["cd into /proc", ["bash", "-lc", "cd /proc/self && cat environ"]],
  ["cd / then relative", ["bash", "-lc", "cd / && cat proc/self/environ"]],
  ["cd -", ["bash", "-lc", "cd - && ls"]],
  ["cd home", ["bash", "-lc", "cd && ls"]],
  ["cwd in /proc", ["cat", "environ"], "/proc/self"],
  ["cwd /", ["cat", "proc/self/environ"], "/"],
  ["relative cwd", ["ls"], "src"],
  // Programs known by base name only.
  ["bash through /proc/self/cwd", ["/proc/self/cwd/bash", "-lc", "ls"]],
  ["bash in the cwd", ["./bash", "-lc", "ls"]],
  ["bash in /tmp", ["/tmp/bash", "-lc", "ls"]],
  ["ls in the cwd", ["./ls"]],
  ["cat in /tmp", ["/tmp/cat", "x"]],
  ["ls through /proc/self/cwd", ["/proc/self/cwd/ls"]],
  ["path climbing out of /usr/bin", ["/usr/bin/../../tmp/ls"]],
  ["relative program path", ["bin/ls"]],
  ["script runs ./ls", ["bash", "-lc", "./ls"]],
  ["script runs /tmp/ls", ["bash", "-lc", "/tmp/ls -la"]],
  // Names that an object lookup would find on Object.prototype.
  ["toString", ["toString"]],
  ["constructor", ["constructor", "x"]],
  ["hasOwnProperty", ["hasOwnProperty"]],
  ["__proto__", ["__proto__"]],
  ["git constructor (an alias could be named so)", ["git", "constructor"]],
  ["git branch -- --list", ["git", "branch", "--", "--list"]],
  // Not read-only at all.
  ["rm", ["rm", "x"]],
  ["python", ["python3", "-c", "print(1)"]],
  ["empty", []],
];

describe("attacks are asked", () => {
  test("the table is long enough to mean something", () => {
    expect(ATTACKS.length).toBeGreaterThanOrEqual(60);
  });

  test.each(ATTACKS)("%s: %o", async (_label, command, cwd) => {
    const where = cwd === undefined ? {} : { cwd };
    expect(await verdict(command, where)).toBe("ask");
    // on-request asks nothing: the command runs, but only inside the sandbox and without the safe environment.
    expect(await decideCommand(input(command, { ...where, approvalPolicy: "on-request" }))).toEqual({ verdict: "run", sandboxed: true });
    expect(isKnownSafeCommand(command, cwd ?? repo)).toBe(false);
  });
});

/** Read-only commands that must still run without asking, in a clean repository. */
const SAFE_COMMANDS: string[][] = [
  ["ls"],
  ["ls", "-la"],
  ["ls", "-la", "src"],
  ["ls", "--color=never", "-1"],
  ["cat", "README.md"],
  ["cat", "-n", "a.txt"],
  ["cat", "../README.md"],
  ["head", "-n", "5", "a.txt"],
  ["head", "-5", "a.txt"],
  ["tail", "-n", "+20", "a.txt"],
  ["wc", "-l", "a.txt"],
  ["grep", "-R", "foo", "src"],
  ["grep", "-rn", "--include=*.ts", "foo", "src"],
  ["grep", "-e", "foo", "-A2", "src/a.ts"],
  ["rg", "foo", "src"],
  ["rg", "-n", "foo"],
  ["rg", "-i", "-g", "*.ts", "foo", "src"],
  ["rg", "--files", "src"],
  ["rg", "-A3", "-B", "2", "foo"],
  ["rg", "--", "-foo", "src"],
  ["sed", "-n", "1,20p", "file.ts"],
  ["sed", "-n", "5p", "a.txt"],
  ["find", ".", "-name", "*.ts"],
  ["find", ".", "-type", "f", "-mtime", "-7"],
  ["find", "src", "-maxdepth", "2", "(", "-name", "a", "-o", "-name", "b", ")", "-print"],
  ["find", "-L", ".", "!", "-path", "./node_modules/*", "-newermt", "2024-01-01"],
  ["git", "status"],
  ["git", "status", "-sb"],
  ["git", "status", "--porcelain=v1", "-uno"],
  ["git", "log", "--oneline", "-5"],
  ["git", "log", "-n", "3", "--stat"],
  ["git", "--no-pager", "log", "--format=%h %s", "-3"],
  ["git", "log", "-p", "--follow", "--", "src/a.ts"],
  ["git", "diff"],
  ["git", "diff", "--cached", "--stat"],
  ["git", "diff", "HEAD~1", "--", "src"],
  ["git", "show", "HEAD"],
  ["git", "show", "--stat", "HEAD"],
  ["git", "branch"],
  ["git", "branch", "-a", "-vv"],
  ["git", "branch", "--show-current"],
  ["git", "branch", "--list", "feat*"],
  ["pwd"],
  ["echo", "hi"],
  ["printf", "%s\n", "x"],
  ["which", "git"],
  ["stat", "a.txt"],
  ["readlink", "-f", "a.txt"],
  ["realpath", "--relative-to=.", "src"],
  ["basename", "a/b.txt"],
  ["dirname", "a/b"],
  ["nl", "-ba", "a.txt"],
  ["id", "-u"],
  ["whoami"],
  ["true"],
  ["/bin/ls", "-la"],
  ["/usr/bin/cat", "a.txt"],
  ["bash", "-lc", "ls && cat x"],
  ["bash", "-lc", "ls -la && cat README.md"],
  ["bash", "-lc", "git status; git diff | head -n 20"],
  ["/bin/bash", "-c", "rg foo || echo 'none found'"],
  ["zsh", "-lc", 'grep -n "a b" file.txt'],
  ["sh", "-c", "cd src && ls"],
  ["bash", "-lc", "cd src && cat ../README.md"],
  ["bash", "-lc", "find . -name '*.ts' | head"],
  ["bash", "-lc", "git log HEAD~1 --oneline | head -n 3"],
  ["bash", "-lc", "find . \\( -name a -o -name b \\) -print"],
];

describe("read-only commands still run", () => {
  test.each(SAFE_COMMANDS.map((command) => [command]))("%o", async (command) => {
    expect(await verdict(command)).toBe("run");
    expect(await verdict(command, { approvalPolicy: "on-request" })).toBe("run");
  });
});

describe("the safe environment", () => {
  test("every known-safe command gets the trusted PATH, no CDPATH, loader or option files; git also gets its config switched off", () => {
    expect(safeCommandEnvironment(["ls"])).toEqual({
      PATH: TRUSTED_PATH,
      CDPATH: undefined,
      LD_LIBRARY_PATH: undefined,
      LD_PRELOAD: undefined,
      LD_AUDIT: undefined,
      RIPGREP_CONFIG_PATH: undefined,
      GREP_OPTIONS: undefined,
    });
    const env = safeCommandEnvironment(["bash", "-lc", "ls && git status"]);
    expect(env).toMatchObject({
      PATH: TRUSTED_PATH,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_PAGER: "cat",
      GIT_OPTIONAL_LOCKS: "0",
      GIT_EXTERNAL_DIFF: undefined,
      GIT_CONFIG_PARAMETERS: undefined,
    });
    const count = Number(env.GIT_CONFIG_COUNT);
    const config = Object.fromEntries(Array.from({ length: count }, (_, i) => [env[`GIT_CONFIG_KEY_${i}`], env[`GIT_CONFIG_VALUE_${i}`]]));
    expect(config).toEqual({
      "core.fsmonitor": "false",
      "core.hooksPath": "/dev/null",
      "core.pager": "cat",
      "diff.ignoreSubmodules": "all",
      "protocol.allow": "never",
    });
  });

  test("a git decision carries the git environment", async () => {
    const decision = await decideCommand(input(["git", "status"]));
    expect(decision).toEqual({ verdict: "run", sandboxed: true, env: safeCommandEnvironment(["git", "status"]) });
  });

  test("applying it sets strings and removes undefineds, leaving the base alone", () => {
    const base = { PATH: ".:/usr/bin", CDPATH: "/", HOME: "/home/u" };
    expect(applyCommandEnvironment(base, { PATH: TRUSTED_PATH, CDPATH: undefined })).toEqual({ PATH: TRUSTED_PATH, HOME: "/home/u" });
    expect(base.CDPATH).toBe("/");
  });
});

describe("git runs only in a repository whose own config names no program", () => {
  const repos: string[] = [];
  const repoWith = (setup: (dir: string) => void): string => {
    const dir = makeRepo("llmx-safety-config-");
    repos.push(dir);
    setup(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of repos) rmSync(dir, { recursive: true, force: true });
  });

  test("what init and clone write is fine, from a subdirectory too", async () => {
    const dir = repoWith((d) => {
      git(d, "remote", "add", "origin", "https://example.com/x.git");
      git(d, "config", "branch.main.remote", "origin");
      git(d, "config", "branch.main.merge", "refs/heads/main");
      git(d, "config", "user.email", "a@example.com");
    });
    expect(await verdict(["git", "status"], { cwd: dir })).toBe("run");
    expect(await verdict(["git", "log", "--oneline"], { cwd: path.join(dir, "src") })).toBe("run");
  });

  test.each([
    ["core.fsmonitor", "./hook"],
    ["core.pager", "./pager"],
    ["pager.log", "./pager"],
    ["diff.external", "./differ"],
    ["filter.x.clean", "./clean"],
    ["filter.x.process", "./process"],
    ["diff.y.textconv", "./textconv"],
    ["diff.y.command", "./differ"],
    ["core.hooksPath", "hooks"],
    ["include.path", "../elsewhere"],
    ["includeIf.gitdir:/.path", "../elsewhere"],
    ["alias.st", "!sh"],
    ["core.sshCommand", "./ssh"],
    ["gpg.program", "./gpg"],
    ["log.showSignature", "true"],
    ["submodule.sm.ignore", "none"],
    ["remote.origin.uploadpack", "./upload"],
    ["core.worktree", "/proc/self"],
    ["core.attributesFile", "attrs"],
    ["mailmap.file", "/proc/self/environ"],
  ])("%s in the repository's config: ask", async (key, value) => {
    const dir = repoWith((d) => git(d, "config", key, value));
    expect(await verdict(["git", "status"], { cwd: dir })).toBe("ask");
    expect(await verdict(["bash", "-lc", "ls && git diff"], { cwd: dir })).toBe("ask");
    expect(await verdict(["ls"], { cwd: dir })).toBe("run");
  });

  test("a config file that includes another: ask, whatever the included file holds", async () => {
    const dir = repoWith((d) => {
      writeFileSync(path.join(d, "inc"), "[user]\n\tname = x\n");
      git(d, "config", "include.path", "../inc");
    });
    expect(await verdict(["git", "status"], { cwd: dir })).toBe("ask");
  });

  test("a .gitmodules in the work tree or the index: ask (its ignore settings beat ours)", async () => {
    const inWorkTree = repoWith((d) => writeFileSync(path.join(d, ".gitmodules"), ""));
    expect(await verdict(["git", "status"], { cwd: inWorkTree })).toBe("ask");
    const inIndexOnly = repoWith((d) => {
      writeFileSync(path.join(d, ".gitmodules"), "");
      git(d, "add", ".gitmodules");
      rmSync(path.join(d, ".gitmodules"));
    });
    expect(await verdict(["git", "status"], { cwd: path.join(inIndexOnly, "src") })).toBe("ask");
  });

  test("outside a repository, or without a cwd, git is asked", async () => {
    const plain = mkdtempSync(path.join(tmpdir(), "llmx-safety-plain-"));
    repos.push(plain);
    expect(await gitRepositoryAllowsSafeRun(plain, applyCommandEnvironment(process.env, safeCommandEnvironment(["git"])))).toBe(false);
    expect(await verdict(["git", "status"], { cwd: undefined })).toBe("ask");
    expect(await verdict(["ls"], { cwd: undefined })).toBe("run");
  });
});
