// The plain-script reader: it returns exactly the argv the shell would run, or gives up.
import { describe, expect, test } from "vitest";
import { shellInvocation, splitPlainScript, type ShellDialect } from "../../src/tools/shell-words.js";

describe("shellInvocation", () => {
  test.each<[string[], ShellDialect]>([
    [["bash", "-lc", "ls"], "bash"],
    [["/bin/bash", "-c", "ls"], "bash"],
    [["/usr/bin/bash", "-lc", "ls"], "bash"],
    [["sh", "-c", "ls"], "sh"],
    [["/usr/bin/sh", "-c", "ls"], "sh"],
    [["zsh", "-lc", "ls"], "zsh"],
    [["/bin/zsh", "-lc", "ls"], "zsh"],
  ])("%o is a %s script", (command, dialect) => {
    expect(shellInvocation(command)).toEqual({ dialect, script: "ls" });
  });

  // A base name proves nothing: any of these could be a file the model wrote.
  test.each([
    [["/proc/self/cwd/bash", "-lc", "ls"]],
    [["./bash", "-lc", "ls"]],
    [["/tmp/bash", "-lc", "ls"]],
    [["/usr/local/bin/bash", "-lc", "ls"]],
    [["/bin/../tmp/bash", "-lc", "ls"]],
    [["//bin/bash", "-lc", "ls"]],
    [["bash", "-xc", "ls"]],
    [["bash", "-lc", "ls", "argv0"]],
    [["bash", "-lc"]],
  ])("%o is not a shell script we read", (command) => {
    expect(shellInvocation(command)).toBeUndefined();
  });
});

describe("splitPlainScript", () => {
  test.each<[string, string[][]]>([
    ["ls -la && cat README.md", [["ls", "-la"], ["cat", "README.md"]]],
    ["git status; git diff | head -n 20", [["git", "status"], ["git", "diff"], ["head", "-n", "20"]]],
    ["rg foo || echo 'none found'", [["rg", "foo"], ["echo", "none found"]]],
    ["find . -name '*.ts'", [["find", ".", "-name", "*.ts"]]],
    ['grep -n "a b" file.txt', [["grep", "-n", "a b", "file.txt"]]],
    ["find . \\( -name a -o -name b \\)", [["find", ".", "(", "-name", "a", "-o", "-name", "b", ")"]]],
    ["git log HEAD~1 --format=%h", [["git", "log", "HEAD~1", "--format=%h"]]],
    ["ls\ncat x;", [["ls"], ["cat", "x"]]],
    ["echo a\\\nb", [["echo", "ab"]]],
    ["echo 'it''s' \"\\\"q\\\"\"", [["echo", "its", '"q"']]],
    ["cat ''", [["cat", ""]]],
  ])("%s", (script, commands) => {
    expect(splitPlainScript(script)).toEqual(commands);
  });

  // Each of these runs an argv the words as written do not show, or is not a plain chain.
  test.each([
    // Brace expansion: find builds `-exec` or `-delete`, git `--output=f`.
    "find . -maxdepth 0 {-true,-exec} sh -c 'id > f' \\;",
    "find . -name victim {-true,-delete}",
    "git log {--output=f,}",
    "ls {a..c}",
    "{ ls; }",
    // Globs: a file named `-delete` in the workspace becomes an option.
    "find . -name victim *",
    "ls ?",
    "ls [-]delete",
    "cat -- x*",
    // Tilde expansion, at a word's start and after = or : (bash expands `a=~` even in arguments).
    "cat ~/.ssh/id_rsa",
    "cat ~root/x",
    "git log --format=~",
    "echo a:~",
    // Parameters, commands, arithmetic, process substitution.
    "echo $HOME",
    "echo ${PATH}",
    "cat $'\\x2d'ew",
    'echo "$OPENAI_API_KEY"',
    "echo $(id)",
    "echo `id`",
    'echo "`id`"',
    "echo $((1+1))",
    "cat <(id)",
    "diff >(cat) x",
    // Redirections and here-docs.
    "echo hi > f",
    "cat < /etc/passwd",
    "ls 2>/dev/null",
    "cat <<EOF\nx\nEOF",
    "ls >| f",
    "ls &> f",
    // Subshells, groups, backgrounding, comments, negation, history, odd chains.
    "(ls)",
    "ls &",
    "ls &&",
    "&& ls",
    "ls | | cat",
    "ls |& cat",
    "ls &&& cat",
    "# comment",
    "! ls",
    "ls !x",
    // Unreadable quoting.
    "echo 'unterminated",
    'echo "unterminated',
    "echo \\",
    'echo "a\\$b"',
    "echo a\rb",
  ])("%s is not plain", (script) => {
    expect(splitPlainScript(script)).toBeUndefined();
  });

  test("zsh expands more: =cmd, ^ and ~ anywhere, and '' inside quotes under RC_QUOTES", () => {
    expect(splitPlainScript("ls =ls")).toEqual([["ls", "=ls"]]);
    expect(splitPlainScript("ls =ls", "zsh")).toBeUndefined();
    expect(splitPlainScript("git log HEAD^", "zsh")).toBeUndefined();
    expect(splitPlainScript("git log HEAD~1", "zsh")).toBeUndefined();
    expect(splitPlainScript("echo 'a''b'", "zsh")).toBeUndefined();
    expect(splitPlainScript("git log HEAD^")).toEqual([["git", "log", "HEAD^"]]);
  });
});
