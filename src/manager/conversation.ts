// The supervisor-side handle of one conversation (Codex's CodexConversation): submit ops, read events.
// It owns the main end of the conversation's channel, the bounded submission queue (credits come back from
// the worker as it takes submissions), and notices when the worker ends, normally or not.
import type { MessagePort, TransferListItem } from "node:worker_threads";
import { setTimeout as sleep } from "node:timers/promises";
import { createFramedPort, decodeFromWorker, type FramedPort, type FromWorker, type ToWorker } from "../channel/index.js";
import type {
  WorkerCrashedError} from "../errors.js";
import {
  InternalAgentDiedError,
  InvalidOpError,
  UnknownApprovalError,
} from "../errors.js";
import { Op, Submission, type Event } from "../protocol/index.js";
import { AsyncQueue } from "../util/async-queue.js";
import { WorkerWatch } from "./worker-watch.js";

/** Codex's SUBMISSION_CHANNEL_CAPACITY. */
export const SUBMISSION_QUEUE_CAPACITY = 64;

/** An approval request this conversation's client has been asked and has not answered. */
export type OpenApproval = {
  eventId: string;
  callId: string;
  kind: "exec" | "patch";
  /** Conversation ids from this conversation down to the one that asked. */
  path: string[];
  command?: string[];
};

export type ConversationEnd = { ok: true } | { ok: false; error: WorkerCrashedError };

export type ConversationOptions = {
  conversationId: string;
  rolloutPath: string;
  port: MessagePort;
  /** The worker task: resolves when the session ends normally, rejects when its worker dies. */
  task: Promise<unknown>;
  /** Terminates the worker (piscina aborts the task by ending its thread). */
  kill(): void;
  /** Supervision messages from the worker (a sub-agent request, ...); the handle itself only reads events. */
  onControl?: (message: FromWorker) => void;
  submissionQueueCapacity?: number;
};

export class Conversation {
  readonly conversationId: string;
  readonly rolloutPath: string;
  /** Resolves when the worker has picked up the conversation's task. */
  readonly ready: Promise<void>;
  /** Resolves when the conversation's worker is done, with why. Never rejects. */
  readonly ended: Promise<ConversationEnd>;

  private readonly eventQueue = new AsyncQueue<Event>();
  private readonly port: FramedPort<ToWorker>;
  private readonly capacity: number;
  private readonly watch: WorkerWatch;
  private nextSubmissionId = 0;
  private inFlight = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private endResult: ConversationEnd | undefined;
  private lastEventId = "";
  /** Approval requests seen and not yet answered. */
  private readonly pendingApprovals: OpenApproval[] = [];

  constructor(options: ConversationOptions) {
    this.conversationId = options.conversationId;
    this.rolloutPath = options.rolloutPath;
    this.capacity = options.submissionQueueCapacity ?? SUBMISSION_QUEUE_CAPACITY;
    this.watch = new WorkerWatch(options.conversationId, options.kill);

    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    let markPortClosed!: () => void;
    const portClosed = new Promise<void>((resolve) => (markPortClosed = resolve));

    this.port = createFramedPort<FromWorker, ToWorker>(
      options.port,
      {
        onMessage: (message) => {
          switch (message.type) {
            case "llmx/event":
              this.lastEventId = message.event.id;
              this.trackApprovals(message.event);
              this.eventQueue.push(message.event);
              break;
            case "llmx/credit":
              this.release(message.count);
              break;
            default:
              if (this.watch.observe(message)) {
                if (message.type === "llmx/ready") markReady();
              } else {
                options.onControl?.(message);
              }
          }
        },
        onClose: markPortClosed,
      },
      { decode: decodeFromWorker },
    );

    this.ended = options.task.then(
      async () => {
        // Events travel on our port, the task's result on piscina's: let ours drain first.
        await Promise.race([portClosed, sleep(1_000, undefined, { ref: false })]);
        return this.finish({ ok: true });
      },
      async (error: unknown) => {
        await Promise.race([portClosed, sleep(1_000, undefined, { ref: false })]);
        return this.finish({ ok: false, error: this.crashError(error) });
      },
    );
  }

  /** Queues an op with the next id ("0", "1", ...) and returns that id once the op is on its way. */
  async submit(op: Op): Promise<string> {
    const parsed = Op.safeParse(op);
    if (!parsed.success) throw new InvalidOpError(parsed.error.issues.map((issue) => issue.message).join("; "));
    const id = String(this.nextSubmissionId++);
    await this.enqueue({ id, op: parsed.data });
    return id;
  }

  /** Queues a submission with the caller's id. Waits while the bounded submission queue is full. */
  async submitWithId(submission: Submission): Promise<void> {
    const parsed = Submission.safeParse(submission);
    if (!parsed.success) throw new InvalidOpError(parsed.error.issues.map((issue) => issue.message).join("; "));
    await this.enqueue(parsed.data);
  }

  /** Sends a validated submission, waiting while the bounded queue is full. */
  private async enqueue(submission: Submission): Promise<void> {
    this.throwIfEnded();
    const op = submission.op;
    if (op.type === "exec_approval" || op.type === "patch_approval") this.takeApproval(op.id);
    if (this.inFlight >= this.capacity || this.slotWaiters.length > 0) {
      // release() reserves our slot before waking us.
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
      this.throwIfEnded();
    } else {
      this.inFlight += 1;
    }
    this.port.send({ type: "llmx/submission", submission });
  }

  /** The next event. After the conversation has ended and its events are drained, rejects with why. */
  async nextEvent(): Promise<Event> {
    const next = await this.eventQueue.next();
    if (next.done) throw this.endError();
    return next.value;
  }

  /** Every event until the conversation ends (a crashed conversation's last event is an `error`). */
  async *events(): AsyncGenerator<Event, void, undefined> {
    for (;;) {
      const next = await this.eventQueue.next();
      if (next.done) return;
      yield next.value;
    }
  }

  /**
   * Submits `shutdown` and waits for the session to finish; kills the worker if it has not within the timeout.
   * A full submission queue does not delay it: the request then goes as a supervision message, which needs no
   * slot (its `shutdown_complete` carries the id "shutdown").
   */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<ConversationEnd> {
    if (this.endResult) return this.endResult;
    const deadline = sleep(options.timeoutMs ?? 10_000, undefined, { ref: false }).then(() => undefined);
    if (this.inFlight < this.capacity && this.slotWaiters.length === 0) {
      await this.submit({ type: "shutdown" }).catch(() => undefined);
    } else {
      this.port.send({ type: "llmx/shutdown" });
    }
    const end = await Promise.race([this.ended, deadline]);
    if (end) return end;
    this.watch.terminate();
    return this.ended;
  }

  /** Sends a supervision message to the worker, transferring `transfer` (a MessagePort) with it. */
  sendControl(message: ToWorker, transfer: readonly TransferListItem[] = []): void {
    if (transfer.length > 0) this.port.sendTransfer(message, transfer);
    else this.port.send(message);
  }

  /** Ends the conversation's worker at once (the hard stop, for a conversation that does not answer). */
  terminate(): void {
    this.watch.terminate();
  }

  get isEnded(): boolean {
    return this.endResult !== undefined;
  }

  /** Approval requests this conversation has raised and nobody has answered yet. */
  get openApprovals(): readonly OpenApproval[] {
    return this.pendingApprovals;
  }

  private trackApprovals(event: Event): void {
    const msg = event.msg;
    if (msg.type === "exec_approval_request") {
      const path = msg.conversation_path ?? [this.conversationId];
      this.pendingApprovals.push({ eventId: event.id, callId: msg.call_id, kind: "exec", path, command: msg.command });
    } else if (msg.type === "apply_patch_approval_request") {
      const path = msg.conversation_path ?? [this.conversationId];
      this.pendingApprovals.push({ eventId: event.id, callId: msg.call_id, kind: "patch", path });
    } else if (msg.type === "task_complete" || msg.type === "turn_aborted") {
      for (let i = this.pendingApprovals.length - 1; i >= 0; i--) {
        if (this.pendingApprovals[i]?.eventId === event.id) this.pendingApprovals.splice(i, 1);
      }
    }
  }

  private takeApproval(id: string): void {
    const index = this.pendingApprovals.findIndex((p) => p.eventId === id || p.callId === id);
    if (index < 0) throw new UnknownApprovalError(id);
    this.pendingApprovals.splice(index, 1);
  }

  private finish(end: ConversationEnd): ConversationEnd {
    this.endResult = end;
    // Nobody is waiting for these answers any more.
    this.pendingApprovals.length = 0;
    if (!end.ok) {
      this.eventQueue.push({ id: this.lastEventId, msg: { type: "error", message: end.error.message } });
    }
    this.eventQueue.end();
    for (const wake of this.slotWaiters.splice(0)) wake();
    return end;
  }

  private release(count: number): void {
    this.inFlight = Math.max(0, this.inFlight - count);
    while (this.slotWaiters.length > 0 && this.inFlight < this.capacity) {
      this.inFlight += 1;
      this.slotWaiters.shift()?.();
    }
  }

  private throwIfEnded(): void {
    if (this.endResult) throw this.endError();
  }

  private endError(): Error {
    const end = this.endResult;
    if (end && !end.ok) return end.error;
    return new InternalAgentDiedError();
  }

  private crashError(error: unknown): WorkerCrashedError {
    return this.watch.crashed(error);
  }

  /** The worker thread running this conversation, once it has started. */
  get threadId(): number | undefined {
    return this.watch.threadId;
  }
}
