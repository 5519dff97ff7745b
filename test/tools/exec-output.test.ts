// The model's view of a command's output: Codex's JSON payload, head and tail around an omission marker.
import { describe, expect, test } from "vitest";
import {
  MODEL_FORMAT_MAX_BYTES,
  durationToCodex,
  formatShellOutputForModel,
  formatShellOutputText,
  runShellCommand,
  truncateHeadTail,
  type ShellResult,
} from "../../src/tools/index.js";

const result = (overrides: Partial<ShellResult> = {}): ShellResult => ({
  exitCode: 0,
  stdout: "",
  stderr: "",
  aggregatedOutput: "",
  durationMs: 0,
  timedOut: false,
  aborted: false,
  ...overrides,
});

const numberedLines = (count: number) => Array.from({ length: count }, (_, i) => `line ${i + 1}\n`).join("");

describe("formatShellOutputForModel", () => {
  test("is Codex's JSON with the exit code and the duration in seconds rounded to a tenth", () => {
    const text = formatShellOutputForModel(result({ aggregatedOutput: "hi\n", exitCode: 2, durationMs: 1_234 }));
    expect(text).toBe('{"output":"hi\\n","metadata":{"exit_code":2,"duration_seconds":1.2}}');
  });

  test("a timed-out command starts with Codex's note", () => {
    const text = formatShellOutputText(result({ aggregatedOutput: "partial\n", timedOut: true, exitCode: 124, durationMs: 500 }));
    expect(text).toBe("command timed out after 500 milliseconds\npartial\n");
  });

  test("truncates a 2,000-line output for the model while aggregatedOutput keeps everything", async () => {
    const shell = await runShellCommand({ command: ["seq", "1", "2000"], cwd: "/" });
    expect(shell.aggregatedOutput.split("\n")).toHaveLength(2001);

    const payload = JSON.parse(formatShellOutputForModel(shell)) as { output: string; metadata: { exit_code: number } };
    expect(payload.metadata.exit_code).toBe(0);
    expect(payload.output).toContain("\n[... omitted 1744 of 2000 lines ...]\n\n");
    const [head, tail] = payload.output.split(/\n\[\.\.\. omitted 1744 of 2000 lines \.\.\.\]\n\n/);
    expect(head?.split("\n")).toEqual(Array.from({ length: 128 }, (_, i) => String(i + 1)).concat(""));
    expect(tail?.split("\n").filter(Boolean)).toEqual(Array.from({ length: 128 }, (_, i) => String(1873 + i)));
  });
});

describe("truncateHeadTail", () => {
  test("leaves output within 256 lines and 10 KiB untouched", () => {
    const text = numberedLines(256);
    expect(truncateHeadTail(text)).toBe(text);
  });

  test("caps long lines by bytes, keeping the marker and whole characters", () => {
    const text = "é".repeat(20_000) + "\n" + "ü".repeat(20_000);
    const truncated = truncateHeadTail(text);
    expect(Buffer.byteLength(truncated)).toBeLessThanOrEqual(MODEL_FORMAT_MAX_BYTES);
    const [head = "", omitted = "", tail = ""] = truncated.split(/\n\[\.\.\. omitted (\d+) of 80001 bytes \.\.\.\]\n\n/);
    expect(Buffer.byteLength(head) + Number(omitted) + Buffer.byteLength(tail)).toBe(80_001);
    expect(truncated).not.toContain("\uFFFD");
    expect(truncated.startsWith("é")).toBe(true);
    expect(truncated.endsWith("ü")).toBe(true);
  });
});

describe("durationToCodex", () => {
  test("splits milliseconds into Rust Duration's secs and nanos", () => {
    expect(durationToCodex(1_234.5)).toEqual({ secs: 1, nanos: 234_500_000 });
    expect(durationToCodex(0)).toEqual({ secs: 0, nanos: 0 });
    expect(durationToCodex(-5)).toEqual({ secs: 0, nanos: 0 });
  });
});
