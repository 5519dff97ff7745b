// The worker threads behind every conversation: piscina, one long-lived task per conversation, and what llmx
// itself knows about each thread (how it exited, whether it threw, whether llmx killed it). Crash reasons are
// read from that data, never from the text of piscina's errors.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker as NodeWorker, getEnvironmentData, setEnvironmentData, type MessagePort, type ResourceLimits, type TransferListItem, type Worker } from "node:worker_threads";
import { Piscina } from "piscina";
import { shareSpawnServiceWithNewThreads } from "../tools/spawner/client.js";
import type { ConversationTask } from "../session/worker-task.js";
import type { ThreadFacts, WorkerRuntime } from "./runtime.js";

export type PoolOptions = {
  workerFilename?: string;
  /**
   * Spare threads, their code loaded, kept ready so a new conversation starts without paying for a thread
   * (default 1). With one conversation per thread they are topped up as conversations take them.
   */
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

/** The task that makes a thread a ready spare: it loads the conversation code and returns. */
export const WARM_TASK = { warm: true } as const;

type LoadBalancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>["loadBalancer"]>;

/**
 * Piscina's default balancer spreads tasks over the least busy threads. Conversations are packed instead: the
 * busiest thread with room takes the next one, so dense mode fills a thread before it uses another, and spare
 * threads stay spare. A conversation that may be aborted (one per thread) only takes an idle thread.
 */
function packingBalancer(maximumUsage: number): LoadBalancer {
  return (task, workers) => {
    let best: (typeof workers)[number] | null = null;
    for (const worker of workers) {
      if (worker.terminating || worker.destroyed || worker.isRunningAbortableTask) continue;
      if (worker.currentUsage >= maximumUsage || (task.isAbortable && worker.currentUsage > 0)) continue;
      if (best === null || worker.currentUsage > best.currentUsage) best = worker;
    }
    return best;
  };
}

/**
 * A thread that holds one conversation may grow its old generation to 512 MiB (V8's default here is ~4 GiB per
 * thread): ample for a long conversation's history, and a runaway one fails alone long before it takes the
 * machine. Its young generation is held to 2 MiB: V8 otherwise grows it while a turn streams output and keeps
 * the pages, ~2 MiB more per conversation after an ordinary turn and ~25 MiB after one whose command printed
 * 30 MB, for the same CPU on an ordinary turn (DESIGN.md, "A worker's start"). Code range and stack stay at V8's
 * defaults.
 */
export const DEFAULT_RESOURCE_LIMITS: Readonly<ResourceLimits> = { maxOldGenerationSizeMb: 512, maxYoungGenerationSizeMb: 2 };

/** The key under which workers/code-cache.cts looks for its store. */
export const CODE_CACHE_KEY = "llmx:worker-code-cache:1";
/** Room for a few generations of the whole bundle's keys and caches (~1 MiB each); pages never written cost nothing. */
const CODE_CACHE_BYTES = 8 * 1024 * 1024;

/** Makes threads created from now on share one store of V8 code caches for the worker code (one per process). */
export function shareCodeCacheWithNewThreads(): void {
  if (getEnvironmentData(CODE_CACHE_KEY) instanceof SharedArrayBuffer) return;
  setEnvironmentData(CODE_CACHE_KEY, new SharedArrayBuffer(CODE_CACHE_BYTES));
}

export class WorkerThreads implements WorkerRuntime {
  private readonly pool: Piscina;
  private readonly facts = new Map<number, ThreadFacts>();
  /** Piscina's task port of each thread: ref'd while a task runs on it, which would keep the process alive. */
  private readonly taskPorts = new Map<number, MessagePort>();
  private readonly holders = new Map<number, Set<object>>();
  /** With one conversation per thread, a task can be aborted, which ends its thread even before it started. */
  readonly abortable: boolean;
  /** Spare threads wanted (one conversation per thread only; in dense mode threads are shared anyway). */
  readonly spareTarget: number;
  private readonly maxThreads: number;
  /** Conversation tasks handed to the pool and not settled, running or waiting for a thread. */
  private tasks = 0;

  constructor(options: PoolOptions) {
    this.abortable = options.conversationsPerThread === 1;
    this.maxThreads = options.maxThreads;
    const minThreads = Math.min(options.minThreads ?? 1, options.maxThreads);
    this.spareTarget = this.abortable ? minThreads : 0;
    // Every thread of this host then forks its commands through one spawn service.
    shareSpawnServiceWithNewThreads();
    // ... and compile the worker code from the caches the first of them make (workers/code-cache.cts).
    shareCodeCacheWithNewThreads();
    this.pool = new Piscina({
      filename: options.workerFilename ?? defaultWorkerFilename(),
      minThreads,
      maxThreads: options.maxThreads,
      concurrentTasksPerWorker: options.conversationsPerThread,
      loadBalancer: packingBalancer(options.conversationsPerThread),
      idleTimeout: options.idleTimeoutMs ?? 30_000,
      // With atomics a worker waiting for its next task blocks its event loop; ours serve ports instead.
      atomics: "disabled",
      // piscina's run and wait time histograms: llmx does not read them.
      recordTiming: false,
      ...(workerExecArgv() === undefined ? {} : { execArgv: workerExecArgv() }),
      ...resourceLimitsFor(options),
    });
    // A worker that fails outside any task (its entry failing to load, say) must not take the supervisor down
    // with it: the tasks it held are rejected and their conversations reported failed.
    this.pool.on("error", (error: unknown) => options.onWorkerError?.(error));
    this.pool.on("workerCreate", (worker: object) => {
      const { port, threadId } = taskPortOf(worker);
      if (port && threadId !== undefined) {
        this.taskPorts.set(threadId, port);
        if (this.holders.get(threadId)?.size === 0) port.unref();
      }
    });
    this.pool.on("workerDestroy", (worker: object) => {
      const { threadId } = taskPortOf(worker);
      if (threadId !== undefined) {
        this.taskPorts.delete(threadId);
        this.holders.delete(threadId);
      }
    });
  }

  keepAlive(threadId: number, holder: object, on: boolean): void {
    let holders = this.holders.get(threadId);
    if (holders === undefined) this.holders.set(threadId, (holders = new Set()));
    if (on) holders.add(holder);
    else holders.delete(holder);
    const port = this.taskPorts.get(threadId);
    if (holders.size > 0) port?.ref();
    else port?.unref();
  }

  run(task: ConversationTask, transferList: readonly TransferListItem[], signal?: AbortSignal): Promise<unknown> {
    this.tasks += 1;
    const run = this.pool.run(task, { transferList: [...transferList] as never, ...(signal && this.abortable ? { signal } : {}) });
    const settled = (): void => {
      this.tasks -= 1;
    };
    run.then(settled, settled);
    return run;
  }

  /** Threads (starting or ready) that no conversation holds or waits for: the spares. */
  get idleThreads(): number {
    return Math.max(0, this.pool.threads.length - this.tasks);
  }

  /** Spare threads missing: wanted, minus the idle ones, within the pool's thread limit. */
  get spareDeficit(): number {
    if (this.spareTarget === 0) return 0;
    return Math.max(0, Math.min(this.spareTarget - this.idleThreads, this.maxThreads - this.pool.threads.length));
  }

  /**
   * Starts `count` new threads as ready spares. The pool starts a thread only for a task no idle thread can take,
   * so one warm task (it only waits for the thread's code to load) goes to each idle thread and `count` more
   * start threads, all handed over at once. Resolves when they are done (never rejects: a spare is an
   * optimisation).
   */
  addSpares(count: number): Promise<void> {
    const tasks = Array.from({ length: this.idleThreads + count }, () => this.pool.run(WARM_TASK));
    return Promise.allSettled(tasks).then(() => undefined);
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

/** Packages that make node run TypeScript: a host started through one of them passes it on to every thread. */
const LOADER_PACKAGE = String.raw`(?:tsx|ts-node|@swc-node[\/]register|esbuild-register|@esbuild-kit[\/][\w-]+)`;
/** A loader named as a package (`tsx`, `ts-node/esm`) or by a path into its installed package. */
const TYPESCRIPT_LOADER = new RegExp(String.raw`^${LOADER_PACKAGE}(?:[\/].*)?$|[\/]node_modules[\/]${LOADER_PACKAGE}[\/]`);
const PRELOAD_FLAGS = new Set(["--import", "--require", "-r", "--loader", "--experimental-loader"]);

let threadExecArgv: { value: string[] | undefined } | undefined;

/**
 * The node flags for the pool's threads: undefined (inherit the host's, as Node does by default) unless the host
 * runs under a TypeScript loader. Threads run the compiled worker bundle, so a loader is of no use there, and each
 * thread would load it at its start: under `tsx`, ~2.5x a thread's start and a bigger heap (DESIGN.md, "A
 * worker's start"). Then the host's other flags are passed on, those a thread accepts.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] | undefined {
  if (execArgv === process.execArgv && threadExecArgv !== undefined) return threadExecArgv.value;
  const kept = withoutTypeScriptLoaders(execArgv);
  const value = kept.length === execArgv.length ? undefined : acceptedByThreads(kept);
  if (execArgv === process.execArgv) threadExecArgv = { value };
  return value;
}

function withoutTypeScriptLoaders(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    if (PRELOAD_FLAGS.has(flag)) {
      const value = eq === -1 ? execArgv[i + 1] : arg.slice(eq + 1);
      if (value !== undefined && TYPESCRIPT_LOADER.test(value)) {
        if (eq === -1) i++;
        continue;
      }
    }
    kept.push(arg);
  }
  return kept;
}

/**
 * Given explicitly, a thread's flags must be ones a thread may have (V8 flags such as `--expose-gc` are the
 * process's); inherited, Node skips those quietly. Flags are tried as a whole, then each (with the values after
 * it) on its own, and only the accepted ones are kept. A try starts no thread (see `threadAccepts`).
 */
function acceptedByThreads(flags: readonly string[]): string[] {
  if (threadAccepts(flags)) return [...flags];
  const groups: string[][] = [];
  for (const arg of flags) {
    if (arg.startsWith("-") || groups.length === 0) groups.push([arg]);
    else groups.at(-1)?.push(arg);
  }
  const accepted = groups.filter(threadAccepts).flat();
  return threadAccepts(accepted) ? accepted : [];
}

/**
 * Whether `new Worker` takes these flags. Node checks them before it posts the thread its start message, which
 * is made to fail (a function in `workerData` cannot be cloned): the check runs and no thread starts.
 */
function threadAccepts(execArgv: readonly string[]): boolean {
  try {
    new NodeWorker("", { eval: true, execArgv: [...execArgv], workerData: () => undefined, stdout: true, stderr: true });
  } catch (error) {
    return (error as { code?: unknown }).code !== "ERR_WORKER_INVALID_EXEC_ARGV";
  }
  return true;
}

function resourceLimitsFor(options: PoolOptions): { resourceLimits?: ResourceLimits } {
  if (options.resourceLimits) return { resourceLimits: options.resourceLimits };
  return options.conversationsPerThread === 1 ? { resourceLimits: { ...DEFAULT_RESOURCE_LIMITS } } : {};
}

/**
 * Piscina (5.x) refs a thread's task port for as long as a task runs on it, and ours run for a conversation's
 * whole life. It offers no switch for that; the port is reached through the worker record that its
 * `workerCreate` event carries. Without it (another piscina), idle conversations keep the process alive, as
 * before.
 */
function taskPortOf(worker: object): { port: MessagePort | undefined; threadId: number | undefined } {
  const key = Object.getOwnPropertySymbols(worker).find((symbol) => symbol.description === "Piscina.kWorkerData");
  const info = (key === undefined ? undefined : (worker as Record<symbol, unknown>)[key]) as
    | { port?: unknown; worker?: { threadId?: unknown } }
    | undefined;
  const port = typeof (info?.port as MessagePort | undefined)?.unref === "function" ? (info?.port as MessagePort) : undefined;
  const threadId = info?.worker?.threadId;
  return { port, threadId: typeof threadId === "number" ? threadId : undefined };
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
