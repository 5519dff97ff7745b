// Helpers for tests that start real processes and check that they die.
import { readFileSync } from "node:fs";

/** Gone, or a zombie nobody reaps (a container's pid 1 may not reap orphans). */
export function isGone(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new Error(`not a command's pid: ${pid}`);
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") ?? false;
  } catch {
    return true;
  }
}

/** Polls `condition` every 50 ms, at most `attempts` times; whether it held. */
export async function eventually(condition: () => boolean, attempts = 200): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

/** The positive integer a file holds, once it holds one (files are written by commands while being polled). */
export function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
