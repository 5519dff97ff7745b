// What a worker link needs of the threads it runs on: the pool (pool.ts), or in tests a runtime that runs the
// conversation task in-process.
import type { TransferListItem } from "node:worker_threads";
import type { ConversationTask } from "../session/worker-task.js";

/** What llmx saw happen to one thread. */
export type ThreadFacts = {
  /** The error the thread died of (an uncaught exception, or running out of heap). */
  error?: Error;
  exitCode?: number;
  /** llmx ended the thread, and why. */
  killedFor?: "killed" | "hung";
};

export interface WorkerRuntime {
  /** Whether `run`'s signal ends the task's thread, even before the task started. */
  readonly abortable: boolean;
  run(task: ConversationTask, transferList: readonly TransferListItem[], signal: AbortSignal): Promise<unknown>;
  /** Starts recording what happens to a thread (once it is known to run a conversation). */
  watch(threadId: number): void;
  factsOf(threadId: number | undefined): ThreadFacts;
  /** Ends a thread (in dense mode, every conversation on it goes with it). */
  kill(threadId: number, reason: "killed" | "hung"): void;
  /**
   * Whether `holder` (a worker link) needs the thread to keep the host process alive. The thread holds the
   * process open while any of its holders does; an idle one lets it exit.
   */
  keepAlive?(threadId: number, holder: object, on: boolean): void;
}
