// The approval rules as a table: policy × sandbox × command → run, ask or reject.
import { describe, expect, test } from "vitest";
import type { AskForApproval, SandboxPolicy } from "../../src/protocol/index.js";
import { assessCommand, commandApprovalKey, isKnownSafeCommand } from "../../src/tools/index.js";

const READ_ONLY: SandboxPolicy = { mode: "read-only" };
const WORKSPACE: SandboxPolicy = { mode: "workspace-write" };
const FULL_ACCESS: SandboxPolicy = { mode: "danger-full-access" };
const FULL_ACCESS_NEW_TAG: SandboxPolicy = { type: "danger-full-access" };

const SAFE = ["ls", "-la"];
const UNSAFE = ["rm", "-rf", "build"];

describe("assessCommand", () => {
  test.each<[AskForApproval, SandboxPolicy, string[], "run" | "ask"]>([
    ["never", READ_ONLY, UNSAFE, "run"],
    ["never", FULL_ACCESS, UNSAFE, "run"],
    ["on-failure", READ_ONLY, UNSAFE, "run"],
    ["on-failure", WORKSPACE, SAFE, "run"],
    ["on-request", READ_ONLY, SAFE, "run"],
    ["on-request", READ_ONLY, UNSAFE, "ask"],
    ["on-request", WORKSPACE, UNSAFE, "ask"],
    ["on-request", FULL_ACCESS, UNSAFE, "run"],
    ["on-request", FULL_ACCESS_NEW_TAG, UNSAFE, "run"],
    ["untrusted", READ_ONLY, SAFE, "run"],
    ["untrusted", READ_ONLY, UNSAFE, "ask"],
    ["untrusted", FULL_ACCESS, UNSAFE, "ask"],
  ])("%s with %o: %o → %s", (approvalPolicy, sandboxPolicy, command, expected) => {
    expect(assessCommand({ command, approvalPolicy, sandboxPolicy, approvedForSession: new Set() })).toBe(expected);
  });

  test("a command approved for the session runs without asking again, and only that exact argv", () => {
    const approvedForSession = new Set([commandApprovalKey(UNSAFE)]);
    const assess = (command: string[]) =>
      assessCommand({ command, approvalPolicy: "untrusted", sandboxPolicy: READ_ONLY, approvedForSession });
    expect(assess(UNSAFE)).toBe("run");
    expect(assess(["rm", "-rf", "src"])).toBe("ask");
  });

  test("escalated permissions are refused unless the policy lets the model ask for approval", () => {
    const assess = (approvalPolicy: AskForApproval) =>
      assessCommand({ command: SAFE, approvalPolicy, sandboxPolicy: READ_ONLY, approvedForSession: new Set(), withEscalatedPermissions: true });
    expect(assess("never")).toBe("reject");
    expect(assess("untrusted")).toBe("reject");
    expect(assess("on-failure")).toBe("reject");
    expect(assess("on-request")).toBe("run");
  });
});

describe("isKnownSafeCommand", () => {
  test.each([
    ["ls"],
    ["cat", "README.md"],
    ["echo", "hi"],
    ["pwd"],
    ["head", "-n", "5", "a.txt"],
    ["wc", "-l", "a.txt"],
    ["grep", "-R", "foo", "src"],
    ["rg", "-n", "foo"],
    ["git", "status"],
    ["git", "log", "--oneline"],
    ["git", "diff", "HEAD~1"],
    ["git", "show", "HEAD"],
    ["git", "branch"],
    ["find", ".", "-name", "*.ts"],
    ["sed", "-n", "1,20p", "a.txt"],
    ["bash", "-lc", "ls -la && cat README.md"],
    ["bash", "-lc", "git status; git diff | head -n 20"],
    ["/bin/bash", "-c", "rg foo || echo 'none found'"],
    ["zsh", "-lc", 'grep -n "a b" file.txt'],
  ])("%o is safe", (...command) => {
    expect(isKnownSafeCommand(command)).toBe(true);
  });

  test.each([
    ["rm", "x"],
    ["./ls"],
    ["/tmp/cat", "x"],
    ["python3", "-c", "print(1)"],
    ["find", ".", "-delete"],
    ["find", ".", "-exec", "rm", "{}", ";"],
    ["find", ".", "-fprint", "out"],
    ["rg", "--pre", "sh", "foo"],
    ["rg", "--pre=sh", "foo"],
    ["rg", "-z", "foo"],
    ["git", "push"],
    ["git", "branch", "-D", "main"],
    ["git", "diff", "--output=patch.diff"],
    ["git", "-C", "/", "status"],
    ["sed", "-i", "s/a/b/", "x"],
    ["bash", "-lc", "ls && rm -rf /"],
    ["bash", "-lc", "echo hi > file"],
    ["bash", "-lc", "cat < /etc/passwd"],
    ["bash", "-lc", "echo $(rm -rf /)"],
    ["bash", "-lc", "echo `rm x`"],
    ["bash", "-lc", "(ls)"],
    ["bash", "-lc", "{ ls; }"],
    ["bash", "-lc", "ls &"],
    ["bash", "-lc", 'echo "$HOME"'],
    ["bash", "-lc", "ls &&"],
    ["bash", "-lc", "echo 'unterminated"],
    ["bash", "-lc", "ls", "extra"],
    ["./bash", "-lc", "ls"],
    [],
  ])("%o is not safe", (...command) => {
    expect(isKnownSafeCommand(command)).toBe(false);
  });
});
