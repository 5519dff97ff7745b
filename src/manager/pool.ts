// The worker pool behind every conversation: piscina, one long-lived task per conversation.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ResourceLimits } from "node:worker_threads";
import { Piscina } from "piscina";

export type PoolOptions = {
  workerFilename?: string;
  /** Threads kept warm so a new conversation starts without paying for a thread (default 1). */
  minThreads?: number;
  maxThreads: number;
  /** Conversations sharing one thread (dense mode). 1 isolates every conversation in its own thread. */
  conversationsPerThread: number;
  /** Heap limits per thread: a conversation that exceeds them fails alone instead of taking the process. */
  resourceLimits?: ResourceLimits;
  idleTimeoutMs?: number;
  /** A worker failed outside a task. Ignored by default; the affected conversations fail on their own. */
  onWorkerError?: (error: unknown) => void;
};

export function createPool(options: PoolOptions): Piscina {
  const pool = new Piscina({
    filename: options.workerFilename ?? defaultWorkerFilename(),
    minThreads: Math.min(options.minThreads ?? 1, options.maxThreads),
    maxThreads: options.maxThreads,
    concurrentTasksPerWorker: options.conversationsPerThread,
    idleTimeout: options.idleTimeoutMs ?? 30_000,
    // With atomics a worker waiting for its next task blocks its event loop; ours serve ports instead.
    atomics: "disabled",
    ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
  });
  // A worker that fails outside any task (its entry failing to load, say) must not take the supervisor down
  // with it: the tasks it held are rejected and their conversations reported failed.
  pool.on("error", (error: unknown) => options.onWorkerError?.(error));
  return pool;
}

/**
 * Workers always run compiled JavaScript (tsx cannot load TypeScript inside worker threads on Node 20).
 * From dist/ the entry sits beside this module's tree; from the TypeScript sources it is the built copy.
 */
export function defaultWorkerFilename(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const sibling = path.resolve(here, "../../workers/conversation.worker.js");
  if (existsSync(sibling)) return sibling;
  const built = path.resolve(here, "../../dist/workers/conversation.worker.js");
  if (existsSync(built)) return built;
  throw new Error(`worker entry not found (looked for ${sibling} and ${built}); run \`npm run build\` first`);
}
