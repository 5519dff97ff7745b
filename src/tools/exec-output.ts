// What the model sees of a finished command: Codex's JSON `{output, metadata}` with the output cut to its head
// and tail. Events carry the full output; only the model's copy is truncated.
import type { ShellResult } from "./shell-result.js";

export const MODEL_FORMAT_MAX_BYTES = 10 * 1024;
export const MODEL_FORMAT_MAX_LINES = 256;
const HEAD_LINES = MODEL_FORMAT_MAX_LINES / 2;
const TAIL_LINES = MODEL_FORMAT_MAX_LINES - HEAD_LINES;
const HEAD_BYTES = MODEL_FORMAT_MAX_BYTES / 2;

/** The `function_call_output` text for a shell call. */
export function formatShellOutputForModel(result: ShellResult): string {
  return JSON.stringify({
    output: formatShellOutputText(result),
    metadata: { exit_code: result.exitCode, duration_seconds: Math.round(result.durationMs / 100) / 10 },
  });
}

/** The aggregated output with Codex's timeout note, truncated for the model (`formatted_output` in events). */
export function formatShellOutputText(result: ShellResult): string {
  const content = result.timedOut
    ? `command timed out after ${Math.round(result.durationMs)} milliseconds\n${result.aggregatedOutput}`
    : result.aggregatedOutput;
  return truncateHeadTail(content);
}

/**
 * Keeps at most MODEL_FORMAT_MAX_LINES lines and MODEL_FORMAT_MAX_BYTES bytes: the first and last lines around
 * a `[... omitted N of M lines ...]` marker, the head limited to half the byte budget. Unlike Codex, a few
 * very long lines are split between head and tail too (with a byte-count marker), so the end is never lost.
 */
export function truncateHeadTail(text: string): string {
  const totalLines = countLines(text);
  const totalBytes = Buffer.byteLength(text);
  if (totalBytes <= MODEL_FORMAT_MAX_BYTES && totalLines <= MODEL_FORMAT_MAX_LINES) return text;

  const segments = text.split(/(?<=\n)/);
  const headCount = Math.min(HEAD_LINES, Math.ceil(segments.length / 2));
  const tailCount = Math.min(TAIL_LINES, segments.length - headCount);
  const omittedLines = segments.length - headCount - tailCount;
  const marker = (omittedBytes: number) =>
    omittedLines > 0
      ? `\n[... omitted ${omittedLines} of ${totalLines} lines ...]\n\n`
      : `\n[... omitted ${omittedBytes} of ${totalBytes} bytes ...]\n\n`;

  const budget = MODEL_FORMAT_MAX_BYTES - Buffer.byteLength(marker(totalBytes));
  const head = takeHeadBytes(segments.slice(0, headCount).join(""), Math.min(HEAD_BYTES, budget));
  const tail = takeTailBytes(segments.slice(segments.length - tailCount).join(""), budget - Buffer.byteLength(head));
  return head + marker(totalBytes - Buffer.byteLength(head) - Buffer.byteLength(tail)) + tail;
}

/** Counts lines the way Rust's `str::lines` does: a trailing newline does not start another line. */
function countLines(text: string): number {
  if (text === "") return 0;
  let count = 1;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) count++;
  return text.endsWith("\n") ? count - 1 : count;
}

const isContinuationByte = (byte: number | undefined) => byte !== undefined && (byte & 0xc0) === 0x80;

function takeHeadBytes(text: string, max: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= max) return text;
  let end = Math.max(0, max);
  while (end > 0 && isContinuationByte(bytes[end])) end--;
  return bytes.subarray(0, end).toString("utf8");
}

function takeTailBytes(text: string, max: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= max) return text;
  let start = bytes.length - Math.max(0, max);
  while (start < bytes.length && isContinuationByte(bytes[start])) start++;
  return bytes.subarray(start).toString("utf8");
}

/** A duration in Codex's serde shape for `std::time::Duration`. */
export function durationToCodex(ms: number): { secs: number; nanos: number } {
  const totalNanos = Math.max(0, Math.round(ms * 1e6));
  return { secs: Math.floor(totalNanos / 1e9), nanos: totalNanos % 1e9 };
}
