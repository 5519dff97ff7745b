// The worker threads behind every conversation: piscina, one long-lived task per conversation, and what llmx
// itself knows about each thread (how it exited, whether it threw, whether llmx killed it). Crash reasons are
// read from that data, never from the text of piscina's errors.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ResourceLimits, TransferListItem, Worker } from "node:worker_threads";
import { Piscina } from "piscina";
import type { ConversationTask } from "../session/worker-task.js";
import { pdeathsigHelper } from "../tools/pdeathsig.js";
import type { ThreadFacts, WorkerRuntime } from "./runtime.js";

export type PoolOptions = {
  workerFilename?: string;
  /** Threads kept warm so a new conversation starts without paying for a thread (default 1). */
  minThreads?: number;
  maxThreads: number;
  /** Conversations sharing one thread (dense mode). 1 isolates every conversation in its own thread. */
  conversationsPerThread: number;
  /**
   * Heap limits per thread: a conversation that exceeds them fails alone instead of taking the process. Default
   * with one conversation per thread: {@link DEFAULT_RESOURCE_LIMITS}; in dense mode, V8's defaults.
   */
  resourceLimits?: ResourceLimits;
  idleTimeoutMs?: number;
  /** A worker failed outside a task. Ignored by default; the affected conversations fail on their own. */
  onWorkerError?: (error: unknown) => void;
};

const MAX_REMEMBERED_THREADS = 1_024;

/**
 * A thread that holds one conversation may grow its old generation to 512 MiB (V8's default here is ~4 GiB per
 * thread): ample for a long conversation's history, and a runaway one fails alone long before it takes the
 * machine. The young generation, code range and stack stay at V8's defaults: smaller ones changed neither the
 * RSS of an idle conversation nor its start (DESIGN.md, "A worker's start").
 */
export const DEFAULT_RESOURCE_LIMITS: Readonly<ResourceLimits> = { maxOldGenerationSizeMb: 512 };

export class WorkerThreads implements WorkerRuntime {
  private readonly pool: Piscina;
  private readonly facts = new Map<number, ThreadFacts>();
  /** With one conversation per thread, a task can be aborted, which ends its thread even before it started. */
  readonly abortable: boolean;

  constructor(options: PoolOptions) {
    this.abortable = options.conversationsPerThread === 1;
    this.pool = new Piscina({
      filename: options.workerFilename ?? defaultWorkerFilename(),
      minThreads: Math.min(options.minThreads ?? 1, options.maxThreads),
      maxThreads: options.maxThreads,
      concurrentTasksPerWorker: options.conversationsPerThread,
      idleTimeout: options.idleTimeoutMs ?? 30_000,
      // With atomics a worker waiting for its next task blocks its event loop; ours serve ports instead.
      atomics: "disabled",
      ...resourceLimitsFor(options),
      // Probed once here (a synchronous spawn, once per process) instead of once in every thread.
      workerData: { setpriv: pdeathsigHelper() ?? null },
    });
    // A worker that fails outside any task (its entry failing to load, say) must not take the supervisor down
    // with it: the tasks it held are rejected and their conversations reported failed.
    this.pool.on("error", (error: unknown) => options.onWorkerError?.(error));
  }

  run(task: ConversationTask, transferList: readonly TransferListItem[], signal?: AbortSignal): Promise<unknown> {
    return this.pool.run(task, { transferList: [...transferList] as never, ...(signal && this.abortable ? { signal } : {}) });
  }

  /** Starts recording what happens to a thread (once it is known to run a conversation). */
  watch(threadId: number): void {
    if (this.facts.has(threadId)) return;
    const facts: ThreadFacts = {};
    this.facts.set(threadId, facts);
    const worker = this.thread(threadId);
    worker?.on("error", (error: Error) => (facts.error ??= error));
    worker?.once("exit", (code: number) => (facts.exitCode = code));
    // Thread ids are never reused in a process: keep the recent ones only.
    if (this.facts.size > MAX_REMEMBERED_THREADS) this.facts.delete(this.facts.keys().next().value as number);
  }

  factsOf(threadId: number | undefined): ThreadFacts {
    return (threadId !== undefined ? this.facts.get(threadId) : undefined) ?? {};
  }

  /** Ends a thread (in dense mode, every conversation on it goes with it). */
  kill(threadId: number, reason: "killed" | "hung"): void {
    this.watch(threadId);
    const facts = this.facts.get(threadId);
    // Thread-mates in dense mode all ask; the thread is ended once.
    if (facts === undefined || facts.killedFor !== undefined) return;
    facts.killedFor = reason;
    void this.thread(threadId)?.terminate();
  }

  get threadCount(): number {
    return this.pool.threads.length;
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }

  private thread(threadId: number): Worker | undefined {
    return this.pool.threads.find((worker) => worker.threadId === threadId);
  }
}

function resourceLimitsFor(options: PoolOptions): { resourceLimits?: ResourceLimits } {
  if (options.resourceLimits) return { resourceLimits: options.resourceLimits };
  return options.conversationsPerThread === 1 ? { resourceLimits: { ...DEFAULT_RESOURCE_LIMITS } } : {};
}

/**
 * Workers always run compiled JavaScript (tsx cannot load TypeScript inside worker threads on Node 20).
 * From dist/ the entry sits beside this module's tree; from the TypeScript sources it is the built copy.
 */
export function defaultWorkerFilename(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const sibling = path.resolve(here, "../../workers/conversation.worker.cjs");
  if (existsSync(sibling)) return sibling;
  const built = path.resolve(here, "../../dist/workers/conversation.worker.cjs");
  if (existsSync(built)) return built;
  throw new Error(`worker entry not found (looked for ${sibling} and ${built}); run \`npm run build\` first`);
}
