// Process-level measurements from /proc (Linux): peak and current RSS of a process and of its whole tree,
// its thread count, and CPU seconds including reaped children (the shell commands a turn runs).
import { readFileSync, readdirSync } from "node:fs";

const PAGE = 4096;
const TICKS = 100;

function status(pid: number | "self", field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Peak resident set size of one process (VmHWM), bytes. */
export const peakRss = (pid: number | "self" = "self"): number => status(pid, "VmHWM");
export const currentRss = (pid: number | "self" = "self"): number => status(pid, "VmRSS");

/** Threads of one process (the main thread, libuv's pool, V8's helpers and every worker thread). */
export function threadCount(pid: number | "self" = "self"): number {
  try {
    const match = /^Threads:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

function stat(pid: number | "self"): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which may contain spaces: field 3 (state) is index 0.
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** User+system CPU seconds of a process plus those of its children that have been waited for. */
export function cpuSeconds(pid: number | "self" = "self"): { self: number; children: number } {
  try {
    const f = stat(pid).map(Number);
    // utime, stime, cutime, cstime are fields 14..17 (indexes 11..14 here).
    return { self: ((f[11] ?? 0) + (f[12] ?? 0)) / TICKS, children: ((f[13] ?? 0) + (f[14] ?? 0)) / TICKS };
  } catch {
    return { self: 0, children: 0 };
  }
}

/** Current RSS of a process and all its descendants, bytes. */
export function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const f = stat(pid);
      const ppid = Number(f[1]);
      (children.get(ppid) ?? children.set(ppid, []).get(ppid))?.push(pid);
      rss.set(pid, Number(f[21]) * PAGE);
    } catch {
      // The process ended while we looked.
    }
  }
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    total += rss.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Samples the tree RSS of `root` every `everyMs` until stopped; returns the peak seen. */
export function sampleTreePeak(root: number, everyMs = 50): { stop(): number } {
  let peak = treeRss(root);
  const timer = setInterval(() => (peak = Math.max(peak, treeRss(root))), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, treeRss(root));
    },
  };
}

/**
 * CPU seconds of this process's spawn service (src/tools/spawner/) and of the commands it reaped: work done for
 * this process that its own children figures miss (the service is never waited for by its host).
 */
export function spawnServiceCpuSeconds(host: number = process.pid): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if (Number(stat(pid)[1]) !== host) continue;
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("spawner.js")) continue;
      const cpu = cpuSeconds(pid);
      total += cpu.self + cpu.children;
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}
