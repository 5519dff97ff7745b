// Shared by the bench scripts: summaries (median, p50/p99, min..max), aligned tables, sizes from the command
// line, and a header naming the machine so every printed table says where it was measured.
import v8 from "node:v8";
import vm from "node:vm";
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { parseArgs, type ParseArgsConfig } from "node:util";

export type Summary = { n: number; median: number; p50: number; p99: number; min: number; max: number; mean: number };

/** Nearest-rank quantile of sorted values (p99 of 100 samples is the 99th value). */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median =
    sorted.length === 0
      ? Number.NaN
      : sorted.length % 2 === 1
        ? (sorted[Math.floor(mid)] as number)
        : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return {
    n: sorted.length,
    median,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.reduce((sum, v) => sum + v, 0) / Math.max(1, sorted.length),
  };
}

export const median = (values: readonly number[]): number => summarize(values).median;

/** Fixed significant digits without exponent noise: 0.0312, 3.12, 31.2, 312, 3120. */
export function num(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return "-";
  if (value === 0) return "0";
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.max(0, digits - 1 - magnitude);
  return value.toFixed(Math.min(decimals, 4));
}

export const ms = (value: number): string => `${num(value)} ms`;
export const mib = (bytes: number): string => `${num(bytes / 2 ** 20)} MiB`;
export const range = (s: Summary, unit = ""): string => `${num(s.min)}..${num(s.max)}${unit}`;
export const perSecond = (value: number): string =>
  value >= 1e6 ? `${num(value / 1e6)}M/s` : value >= 1e3 ? `${num(value / 1e3)}k/s` : `${num(value)}/s`;

/** Prints a GitHub-flavoured markdown table (so it pastes into BENCHMARKS.md as is). */
export function printTable(title: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  console.log(`\n### ${title}\n`);
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
}

export function printMachine(name: string): void {
  const cpu = cpus();
  console.log(
    `# bench ${name}: node ${process.version}, ${cpu.length} cpus (${cpu[0]?.model.trim() ?? "?"}), ` +
      `${num(totalmem() / 2 ** 30)} GiB RAM (${num(freemem() / 2 ** 30)} free), load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  );
}

/** `--quick` (CI smoke sizes), `--runs N`, plus script-specific string options. */
export function benchArgs<K extends string>(extra: readonly K[] = []) {
  const options: ParseArgsConfig["options"] = { quick: { type: "boolean", default: false }, runs: { type: "string" } };
  for (const key of extra) options[key] = { type: "string" };
  const values = parseArgs({ args: process.argv.slice(2), options, strict: true }).values as Record<string, string | boolean | undefined>;
  return {
    quick: values.quick === true,
    runs: (fallback: number) => (typeof values.runs === "string" ? Number(values.runs) : fallback),
    get: (key: K): string | undefined => {
      const value = values[key];
      return typeof value === "string" ? value : undefined;
    },
  };
}

let fullGc: (() => void) | undefined;

/**
 * V8's `gc()`, taken from a context made while --expose-gc is on for a moment. Run under the flag, a script would
 * pay for it in every worker thread's start (~3 ms of CPU each on Node 20), which production llmx never does.
 */
function gcFunction(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  if (fullGc === undefined) {
    v8.setFlagsFromString("--expose-gc");
    fullGc = vm.runInNewContext("gc") as () => void;
    v8.setFlagsFromString("--no-expose-gc");
  }
  return fullGc;
}

/** A full GC and a pause so freed pages settle before RSS is read. */
export async function settle(pauseMs = 200): Promise<void> {
  const gc = gcFunction();
  gc();
  await new Promise((resolve) => setTimeout(resolve, pauseMs));
  gc();
}
