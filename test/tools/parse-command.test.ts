// parsed_cmd: the best-effort summary clients render for each command.
import { describe, expect, test } from "vitest";
import { parsedCommand } from "../../src/tools/index.js";

describe("parsedCommand", () => {
  test("cat of one file is a read named by its base name", () => {
    expect(parsedCommand(["cat", "src/index.ts"])).toEqual([
      { type: "read", cmd: "cat src/index.ts", name: "index.ts", path: "src/index.ts" },
    ]);
  });

  test("ls with and without a path lists files", () => {
    expect(parsedCommand(["ls", "-la", "src"])).toEqual([{ type: "list_files", cmd: "ls -la src", path: "src" }]);
    expect(parsedCommand(["ls"])).toEqual([{ type: "list_files", cmd: "ls", path: null }]);
  });

  test("rg and grep are searches with their query and optional path", () => {
    expect(parsedCommand(["rg", "-n", "TODO", "src"])).toEqual([{ type: "search", cmd: "rg -n TODO src", query: "TODO", path: "src" }]);
    expect(parsedCommand(["grep", "-R", "needle"])).toEqual([{ type: "search", cmd: "grep -R needle", query: "needle", path: null }]);
    expect(parsedCommand(["rg", "-g", "*.ts", "-e", "foo bar"])).toEqual([
      { type: "search", cmd: "rg -g '*.ts' -e 'foo bar'", query: "foo bar", path: null },
    ]);
    expect(parsedCommand(["rg", "--files", "src"])).toEqual([{ type: "list_files", cmd: "rg --files src", path: "src" }]);
  });

  test("bash -lc scripts are parsed command by command", () => {
    expect(parsedCommand(["bash", "-lc", "cd src && cat 'a b.txt' | head -n 3"])).toEqual([
      { type: "unknown", cmd: "cd src" },
      { type: "read", cmd: "cat 'a b.txt'", name: "a b.txt", path: "a b.txt" },
      { type: "unknown", cmd: "head -n 3" },
    ]);
  });

  test("scripts it cannot read, and other programs, are unknown", () => {
    expect(parsedCommand(["bash", "-lc", "echo $(date) > out"])).toEqual([{ type: "unknown", cmd: "echo $(date) > out" }]);
    expect(parsedCommand(["python3", "-c", "print('hi')"])).toEqual([{ type: "unknown", cmd: "python3 -c 'print('\"'\"'hi'\"'\"')'" }]);
    expect(parsedCommand(["cat", "a", "b"])).toEqual([{ type: "unknown", cmd: "cat a b" }]);
  });
});
