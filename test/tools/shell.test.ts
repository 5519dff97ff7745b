// Runs real processes: streaming, exit codes, timeouts and aborts that kill the whole process group.
import { tmpdir } from "node:os";
import { describe, expect, test } from "vitest";
import { runShellCommand, type ShellRunOptions } from "../../src/tools/index.js";
import { eventually, isGone } from "./processes.js";

const run = (command: string[], options: Partial<ShellRunOptions> = {}) =>
  runShellCommand({ command, cwd: tmpdir(), ...options });

async function waitUntilGone(pid: number): Promise<boolean> {
  return eventually(() => isGone(pid), 100);
}

describe("runShellCommand", () => {
  test("streams every chunk through onOutput and aggregates both streams in arrival order", async () => {
    const chunks: { stream: string; text: string }[] = [];
    const result = await run(["bash", "-c", "echo out1; echo err1 >&2; sleep 0.1; echo out2"], {
      onOutput: (stream, chunk) => chunks.push({ stream, text: chunk.toString() }),
    });

    expect(result).toMatchObject({
      exitCode: 0,
      stdout: "out1\nout2\n",
      stderr: "err1\n",
      timedOut: false,
      aborted: false,
    });
    expect(result.aggregatedOutput).toBe(chunks.map((c) => c.text).join(""));
    expect(result.aggregatedOutput.split("\n").filter(Boolean).sort()).toEqual(["err1", "out1", "out2"]);
    expect(chunks.filter((c) => c.stream === "stdout").map((c) => c.text).join("")).toBe("out1\nout2\n");
    expect(chunks.filter((c) => c.stream === "stderr").map((c) => c.text).join("")).toBe("err1\n");
  });

  test("runs the argv directly, without a shell interpreting it", async () => {
    const result = await run(["echo", "$HOME", "a && b"]);
    expect(result.stdout).toBe("$HOME a && b\n");
  });

  test("reports the command's exit code and runs in the given cwd", async () => {
    expect((await run(["bash", "-c", "exit 3"])).exitCode).toBe(3);
    expect((await run(["pwd"], { cwd: "/" })).stdout).toBe("/\n");
  });

  test("a command killed by a signal reports 128 + the signal number", async () => {
    const result = await run(["bash", "-c", "kill -TERM $$"]);
    expect(result.exitCode).toBe(128 + 15);
  });

  test("a missing program reports 127 with the reason in stderr instead of throwing", async () => {
    const result = await run(["definitely-not-a-command-llmx"]);
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toContain("ENOENT");
    expect(result.aggregatedOutput).toBe(result.stderr);
  });

  test("an empty argv reports 127", async () => {
    expect((await run([])).exitCode).toBe(127);
  });

  test("a timeout kills the whole process group, grandchildren included, and reports 124", async () => {
    let grandchild: number | undefined;
    const result = await run(["bash", "-c", "sleep 30 & echo $!; sleep 30"], {
      timeoutMs: 300,
      onOutput: (_stream, chunk) => {
        grandchild ??= Number(chunk.toString().trim());
      },
    });

    expect(result).toMatchObject({ exitCode: 124, timedOut: true, aborted: false });
    expect(grandchild).toBeGreaterThan(0);
    expect(await waitUntilGone(grandchild ?? 0)).toBe(true);
  });

  test("aborting the signal kills the process group and reports aborted", async () => {
    const controller = new AbortController();
    let grandchild: number | undefined;
    const result = await run(["bash", "-c", "sleep 30 & echo $!; sleep 30"], {
      timeoutMs: 60_000,
      signal: controller.signal,
      onOutput: (_stream, chunk) => {
        grandchild ??= Number(chunk.toString().trim());
        controller.abort();
      },
    });

    expect(result).toMatchObject({ exitCode: 128 + 9, timedOut: false, aborted: true });
    expect(await waitUntilGone(grandchild ?? 0)).toBe(true);
  });

  test("a background process still holding the pipes does not keep the call waiting after the command exits", async () => {
    const result = await run(["bash", "-c", "sleep 30 & echo $!; echo done"]);
    const background = Number(result.stdout.split("\n")[0]);
    process.kill(background, "SIGKILL");

    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(result.stdout.endsWith("done\n")).toBe(true);
  });

  test("an already aborted signal runs nothing", async () => {
    const result = await run(["touch", "never"], { signal: AbortSignal.abort() });
    expect(result).toMatchObject({ exitCode: -1, aborted: true, stdout: "" });
  });

  test("keeps at most 1 MiB per stream in memory but streams everything", async () => {
    let streamed = 0;
    const result = await run(["head", "-c", String(3 * 1024 * 1024), "/dev/zero"], {
      onOutput: (_stream, chunk) => {
        streamed += chunk.length;
      },
    });

    expect(streamed).toBe(3 * 1024 * 1024);
    expect(result.stdout.length).toBeLessThan(1024 * 1024 + 200);
    expect(result.stdout).toContain(`[... ${2 * 1024 * 1024} more bytes of output not kept ...]`);
  });
});
