// Runs the session's one task at a time in the background, so that interrupt, overrides and shutdown are
// handled while it streams, and gives every kind the same lifecycle: task_started; then task_complete (after
// an `error` when the task failed) or, when aborted, the task's own abort step and turn_aborted.
import { errorEvent } from "../../errors.js";
import type { EventMsg, ResponseItem } from "../../protocol/index.js";
import { type Clock, withDeadline } from "../../util/clock.js";
import type { SessionTask, TaskContext } from "./task.js";

/** Codex waits this long for an aborted task to wind down before reporting it aborted. */
export const ABORT_GRACE_MS = 100;

export type TaskRunnerDeps = {
  clock: Clock;
  emit(subId: string, msg: EventMsg): void;
  /** The context a task runs with; `live()` false drops its emits and records. */
  context(subId: string, live: () => boolean, pending: ResponseItem[]): TaskContext;
};

type Running = {
  subId: string;
  task: SessionTask;
  controller: AbortController;
  done: Promise<void>;
  pendingInput: ResponseItem[];
  /** Set once the task has resolved: from then on it completes and can no longer be aborted. */
  finishing: boolean;
};

export class TaskRunner {
  private running: Running | undefined;

  constructor(private readonly deps: TaskRunnerDeps) {}

  /** Whether a task runs that can still take input or be aborted. */
  get busy(): boolean {
    return this.running !== undefined && !this.running.finishing;
  }

  /** Queues input for the running task's next model request; false when no task can take it. */
  inject(item: ResponseItem): boolean {
    if (!this.busy) return false;
    this.running?.pendingInput.push(item);
    return true;
  }

  spawn(subId: string, task: SessionTask): void {
    const controller = new AbortController();
    const pendingInput: ResponseItem[] = [];
    const ctx = this.deps.context(subId, () => !controller.signal.aborted, pendingInput);
    const running: Running = { subId, task, controller, done: Promise.resolve(), pendingInput, finishing: false };
    ctx.emit({ type: "task_started", model_context_window: ctx.model.contextWindow(ctx.settings.model) });
    running.done = task
      .run(ctx, controller.signal)
      .then(
        (lastAgentMessage) => {
          running.finishing = true;
          ctx.emit({ type: "task_complete", last_agent_message: lastAgentMessage });
        },
        (error: unknown) => {
          if (controller.signal.aborted) return;
          running.finishing = true;
          ctx.emit(errorEvent(error));
          ctx.emit({ type: "task_complete", last_agent_message: null });
        },
      )
      .finally(() => {
        if (this.running === running) this.running = undefined;
      });
    this.running = running;
  }

  /** Aborts the running task (if it has not finished): its abort step, then turn_aborted. */
  async abort(reason: "interrupted" | "replaced"): Promise<void> {
    const running = this.running;
    if (running === undefined || running.finishing) return;
    this.running = undefined;
    running.controller.abort();
    await withDeadline(this.deps.clock, running.done, ABORT_GRACE_MS);
    running.task.abort?.(this.deps.context(running.subId, () => true, []));
    this.deps.emit(running.subId, { type: "turn_aborted", reason });
  }
}
