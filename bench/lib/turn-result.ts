// What one turn workload measures, the same for llmx and Codex so the two can be set side by side.
import { createConfig, type ConversationConfig } from "../../src/index.js";
import { fileURLToPath } from "node:url";
import { tempDir } from "./home.js";
import { runScript } from "./launch.js";
import { cpuSeconds, peakRss, sampleTreePeak, spawnServiceCpuSeconds } from "./proc.js";
import { mib, ms, num, summarize } from "./stats.js";

export type TurnResult = {
  system: string;
  n: number;
  /** Turns that ran the command and answered with its output. */
  ok: number;
  /** Start of the first spawn (newConversation / thread/start) to the last turn's completion. */
  wallMs: number;
  spawnMs: number;
  turnsMs: number;
  /** Each turn from submit (turn/start) to task_complete (turn/completed). */
  latencies: number[];
  cpuSelf: number;
  cpuChildren: number;
  /** VmHWM of the process hosting the conversations. */
  peakRss: number;
  /** Peak of the summed RSS of that process and its children (the shell commands), sampled every 50 ms. */
  peakTreeRss: number;
  baselineRss: number;
};

/** Starts measuring a process (default: this one) and returns the function that finishes the result. */
export function measureProcess(pid: number | "self" = "self") {
  const cpu0 = cpuSeconds(pid);
  const service0 = pid === "self" ? spawnServiceCpuSeconds() : 0;
  const tree = sampleTreePeak(pid === "self" ? process.pid : pid);
  return (fields: Omit<TurnResult, "cpuSelf" | "cpuChildren" | "peakRss" | "peakTreeRss">): TurnResult => {
    const cpu1 = cpuSeconds(pid);
    return {
      ...fields,
      cpuSelf: cpu1.self - cpu0.self,
      // The spawn service's share (it and the commands it forked) counts as children's CPU.
      cpuChildren: cpu1.children - cpu0.children + (pid === "self" ? spawnServiceCpuSeconds() - service0 : 0),
      peakRss: peakRss(pid),
      peakTreeRss: tree.stop(),
    };
  };
}

export const TURN_HEADER = ["system", "N", "ok", "wall", "spawn", "turns", "turn p50", "turn p99", "turn min..max", "CPU s (self+children)", "peak RSS", "peak tree RSS"];

export function turnRow(r: TurnResult, label = r.system): string[] {
  const s = summarize(r.latencies);
  return [
    label,
    String(r.n),
    `${r.ok}/${r.n}`,
    ms(r.wallMs),
    ms(r.spawnMs),
    ms(r.turnsMs),
    ms(s.p50),
    ms(s.p99),
    `${num(s.min)}..${num(s.max)} ms`,
    `${num(r.cpuSelf)}+${num(r.cpuChildren)}`,
    mib(r.peakRss),
    mib(r.peakTreeRss),
  ];
}

/** Runs one llmx case of bench/turns.ts (`"100"`, `"1000:dense"`) in a fresh process whose HOME is empty. */
export async function runTurnCase(spec: string, url: string, perThread: number): Promise<TurnResult> {
  const env = { ...process.env, HOME: tempDir("home") };
  const script = fileURLToPath(new URL("../turns.ts", import.meta.url));
  const out = await runScript(script, ["--case", spec, "--url", url, "--per-thread", String(perThread)], { env });
  return JSON.parse(out.trim().split("\n").at(-1) as string) as TurnResult;
}

/** The config of the turns workload: the mock model at `url`, approval never, full access (no sandbox cost). */
export function mockTurnConfig(home: string, url: string): ConversationConfig {
  return createConfig({
    home,
    cwd: home,
    model: "mock-model",
    modelProvider: "mock",
    provider: { id: "mock", name: "Mock", baseUrl: url, wireApi: "responses", requestMaxRetries: 2, streamMaxRetries: 2, streamIdleTimeoutMs: 60_000 },
    approvalPolicy: "never",
    sandboxPolicy: { mode: "danger-full-access" },
  });
}
