// The floor of one thread per conversation: worker threads that do nothing but stay alive.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Worker, type ResourceLimits } from "node:worker_threads";
import { DEFAULT_RESOURCE_LIMITS } from "../../src/manager/pool.js";
import { currentRss } from "./proc.js";
import { settle } from "./stats.js";

/** A CommonJS file (an eval'd script would take the bench's --input-type=module). */
function idleThreadFile(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "llmx-bare-")), "idle.worker.cjs");
  writeFileSync(file, `const { parentPort } = require("node:worker_threads");\nparentPort.on("message", () => process.exit(0));\nparentPort.postMessage("ready");\n`);
  return file;
}

/**
 * RSS per thread of `n` bare worker threads, all alive at once (the process's RSS after they started, less before,
 * over n), with the heap limits a manager gives a thread that holds one conversation unless told otherwise.
 */
export async function bareThreadRss(n: number, resourceLimits: ResourceLimits = DEFAULT_RESOURCE_LIMITS): Promise<number> {
  await settle();
  const before = currentRss();
  const workers: Worker[] = [];
  const file = idleThreadFile();
  try {
    for (let i = 0; i < n; i++) {
      const worker = new Worker(file, { resourceLimits: { ...resourceLimits } });
      workers.push(worker);
      await new Promise((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
      });
    }
    await settle(1_000);
    return (currentRss() - before) / n;
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}
