// The supervisor-side handle of one conversation (Codex's CodexConversation): submit ops, read events. It
// outlives the workers behind it: when its supervisor restarts the conversation, the handle moves to the new
// worker, so `submit` and `events()` keep working. It owns the bounded submission queue (credits come back from
// the worker as it takes submissions; what the worker never took is sent again to the next one), the event
// stream, and the approval requests its client has not answered.
import type { ExitReason } from "../../machines/conversation.machine.js";
import {
  InternalAgentDiedError,
  InvalidOpError,
  UnknownApprovalError,
  errorEvent,
} from "../errors.js";
import { Op, Submission, type Event } from "../protocol/index.js";
import { DEFAULT_EVENT_WINDOW } from "../channel/index.js";
import { EventStream } from "./event-stream.js";
import * as turns from "./turn.js";
import type { StreamedTurn, TurnContext, TurnInput, TurnOptions, TurnResult } from "./turn.js";
import type { EventSinkForLink } from "./worker-link.js";

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

export type ConversationEnd = { ok: true } | { ok: false; error: Error };

/** Where the handle's submissions go: the current worker, or nowhere while the conversation restarts. */
export interface SubmissionTarget {
  submit(submission: Submission): void;
  /** Asks the worker to shut down without taking a queue slot. */
  stop(): void;
  /** Returns event credit: every reader has consumed `count` more of this worker's events. */
  credit?(count: number): void;
  /** Whether the conversation needs the host process alive: a turn runs, a submission waits, a reader waits. */
  keepAlive?(on: boolean): void;
}

export type ConversationOptions = {
  conversationId: string;
  rolloutPath: string;
  /** Asks the supervisor to stop the conversation, killing it past `timeoutMs`; resolves when it has ended. */
  shutdown(timeoutMs: number | undefined): Promise<ConversationEnd>;
  /** Asks the supervisor to hard-stop the conversation's worker. */
  terminate(): void;
  submissionQueueCapacity?: number;
  /** The worker's event window (what the manager grants each worker); the bound of every reader's backlog. */
  eventWindow?: number;
  /** The turn settings the conversation starts with (a `user_turn` op repeats them); see `turnContext()`. */
  turnContext?: TurnContext;
};

export class Conversation implements EventSinkForLink {
  readonly conversationId: string;
  readonly rolloutPath: string;
  /** Resolves when the conversation has ended for good (not restarted), with why. Never rejects. */
  readonly ended: Promise<ConversationEnd>;

  private readonly stream: EventStream;
  /** Events in the buffer that no worker now running gets credit for (an earlier worker's, the handle's own). */
  private uncredited = 0;
  /** Credit owed to the worker, returned once per microtask. */
  private owed = 0;
  private crediting = false;
  private readonly capacity: number;
  private target: SubmissionTarget | undefined;
  private nextSubmissionId = 0;
  /** Submissions the current worker has not taken yet, oldest first (re-sent after a restart). */
  private readonly untaken: Submission[] = [];
  private readonly slotWaiters: (() => void)[] = [];
  private endResult: ConversationEnd | undefined;
  private markEnded!: (end: ConversationEnd) => void;
  private lastEventId = "";
  /**
   * Submissions that start a task (user input, review, compact) and have not completed, in order: a crash ends
   * them for the client. One the worker took without starting a task (input it joined to a running task, or
   * refused) leaves the set when its credit comes back, which the worker sends after the task_started.
   */
  private readonly unfinished = new Set<string>();
  private readonly started = new Set<string>();
  private readonly pendingApprovals: OpenApproval[] = [];
  private context: TurnContext | undefined;

  constructor(private readonly options: ConversationOptions) {
    this.conversationId = options.conversationId;
    this.context = options.turnContext;
    this.rolloutPath = options.rolloutPath;
    this.capacity = options.submissionQueueCapacity ?? SUBMISSION_QUEUE_CAPACITY;
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
    this.eventWindow = options.eventWindow ?? DEFAULT_EVENT_WINDOW;
    this.stream = new EventStream(
      (count) => this.consumed(count),
      () => this.updateKeepAlive(),
    );
  }

  /** The events one worker may send before its readers consume them (each reader's bound, see events()). */
  readonly eventWindow: number;

  /** Queues an op with the next id ("0", "1", ...) and returns that id once the op is on its way. */
  async submit(op: Op): Promise<string> {
    const parsed = Op.safeParse(op);
    if (!parsed.success) throw new InvalidOpError(parsed.error.issues.map((issue) => issue.message).join("; "));
    const id = String(this.nextSubmissionId++);
    await this.enqueue({ id, op: parsed.data });
    this.noteTurnContext(parsed.data);
    return id;
  }

  /** Queues a submission with the caller's id. Waits while the bounded submission queue is full. */
  async submitWithId(submission: Submission): Promise<void> {
    const parsed = Submission.safeParse(submission);
    if (!parsed.success) throw new InvalidOpError(parsed.error.issues.map((issue) => issue.message).join("; "));
    await this.enqueue(parsed.data);
    this.noteTurnContext(parsed.data.op);
  }

  private noteTurnContext(op: Op): void {
    if (this.context === undefined || (op.type !== "override_turn_context" && op.type !== "user_turn")) return;
    const next = { ...this.context };
    if (op.cwd !== undefined) next.cwd = op.cwd;
    if (op.approval_policy !== undefined) next.approval_policy = op.approval_policy;
    if (op.sandbox_policy !== undefined) next.sandbox_policy = op.sandbox_policy;
    if (op.model !== undefined) next.model = op.model;
    if (op.effort !== undefined) next.effort = op.effort;
    if (op.summary !== undefined) next.summary = op.summary;
    this.context = next;
  }

  /**
   * The next event of the default reader, which holds every event since the conversation started until it is
   * read (unless an `events()` reader took it over first). After the conversation has ended and its events are
   * drained, rejects with why.
   */
  async nextEvent(): Promise<Event> {
    const next = await this.stream.nextDefault();
    if (next.done) throw this.endError();
    return next.value;
  }

  /**
   * A new reader of every event until the conversation ends (a failed conversation's last event is an
   * `error`). It subscribes at this call: it sees the events from now on, or, if `nextEvent()` has not been
   * used, takes over the default reader and its backlog (so a client that submits, then starts reading, misses
   * nothing). Any number of readers may read at once; each holds at most `eventWindow` of a worker's events it
   * has not read, and the conversation goes at the pace of its slowest reader. `break` (or `return()`)
   * unsubscribes; a reader that is never iterated holds the conversation back.
   */
  events(): AsyncIterableIterator<Event, undefined> {
    return this.stream.subscribe();
  }

  /** Events held for readers that have not read them yet (bounded by the event window; for tests and metrics). */
  get bufferedEvents(): number {
    return this.stream.buffered;
  }

  /**
   * Runs one turn: submits `input` (a prompt or user input items) and resolves when the turn has completed, with
   * its final response, its events (deltas left out) and its token usage. Rejects with `AbortError` when
   * `signal` aborts (the turn is interrupted; the conversation stays usable) and with `TurnFailedError` (the
   * event's `code` in `errorCode`) when the turn reported an `error` event. Reads this conversation's `events()`
   * while it runs.
   */
  run(input: TurnInput, options: TurnOptions = {}): Promise<TurnResult> {
    return turns.run(this, input, options);
  }

  /** Submits `input` and streams that turn's events only, ending after its `task_complete` or `turn_aborted`. */
  runStreamed(input: TurnInput, options: TurnOptions = {}): Promise<StreamedTurn> {
    return turns.runStreamed(this, input, options);
  }

  /** The turn settings in force: the config's, as changed by `override_turn_context` and `user_turn` ops since. */
  turnContext(): TurnContext {
    if (this.context === undefined) throw new InvalidOpError("this conversation has no turn settings to repeat in a user_turn");
    return this.context;
  }

  /** `await using conversation = ...` shuts it down at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /** Shuts the conversation down; its worker is killed if it has not finished within `timeoutMs`. */
  shutdown(options: { timeoutMs?: number } = {}): Promise<ConversationEnd> {
    if (this.endResult) return Promise.resolve(this.endResult);
    return this.options.shutdown(options.timeoutMs);
  }

  /** Ends the conversation's worker at once (the hard stop, for a conversation that does not answer). */
  terminate(): void {
    this.options.terminate();
  }

  get isEnded(): boolean {
    return this.endResult !== undefined;
  }

  /** Approval requests this conversation has raised and nobody has answered yet. */
  get openApprovals(): readonly OpenApproval[] {
    return this.pendingApprovals;
  }

  private alive: boolean | undefined;

  /**
   * An idle conversation (no task running or queued, nobody waiting for an event) lets the host process exit;
   * a busy one holds it open. Told to the worker link only when it changes.
   */
  private updateKeepAlive(force = false): void {
    const busy = this.stream.waitingReaders > 0 || this.unfinished.size > 0 || this.untaken.length > 0 || this.slotWaiters.length > 0;
    if (!force && busy === this.alive) return;
    this.alive = busy;
    this.target?.keepAlive?.(busy);
  }

  // --- the supervisor's side ---

  /** A worker runs the conversation now: what the previous one never took goes to it first. */
  attach(target: SubmissionTarget): void {
    this.target = target;
    // The new worker starts with a full window: what is buffered now earns it no credit back.
    this.uncredited = this.stream.buffered;
    this.owed = 0;
    for (const submission of this.untaken) target.submit(submission);
    this.updateKeepAlive(true);
  }

  deliver(event: Event): void {
    this.lastEventId = event.id;
    this.track(event);
    this.stream.push(event);
    this.updateKeepAlive();
  }

  credit(count: number): void {
    for (const taken of this.untaken.splice(0, count)) {
      if (!this.started.has(taken.id)) this.unfinished.delete(taken.id);
    }
    while (this.slotWaiters.length > 0 && this.untaken.length + this.reserved < this.capacity) {
      this.reserved += 1;
      this.slotWaiters.shift()?.();
    }
    this.updateKeepAlive();
  }

  /**
   * The worker died and the supervisor restarts the conversation. Every task the client started and has not
   * seen complete ends for it (an error, then task_complete), whether it was running or still queued: a turn is
   * never replayed into the new worker, which could record it twice or die of it again. Its approval requests
   * are dropped, the stream says it restarted, and the other queued submissions go to the new worker.
   */
  restarting(error: Error, reason: ExitReason, restarts: number): void {
    this.target = undefined;
    this.pendingApprovals.length = 0;
    for (let i = this.untaken.length - 1; i >= 0; i--) {
      const op = this.untaken[i]?.op;
      // Answers to requests that died with the worker would answer nothing.
      if (op && (startsTask(op) || op.type === "exec_approval" || op.type === "patch_approval")) this.untaken.splice(i, 1);
    }
    for (const id of this.unfinished) {
      this.stream.push({ id, msg: errorEvent(error) });
      this.stream.push({ id, msg: { type: "task_complete", last_agent_message: null } });
    }
    this.unfinished.clear();
    this.started.clear();
    this.stream.push({ id: "", msg: { type: "conversation_restarted", reason, restarts } });
  }

  /** The conversation has ended for good; a failure is the stream's last event. */
  finish(end: ConversationEnd): void {
    if (this.endResult) return;
    this.endResult = end;
    this.target = undefined;
    this.pendingApprovals.length = 0;
    if (!end.ok) {
      // The tasks the client is waiting for end with the error; with none, the error closes the stream.
      for (const id of this.unfinished) {
        this.stream.push({ id, msg: errorEvent(end.error) });
        this.stream.push({ id, msg: { type: "task_complete", last_agent_message: null } });
      }
      if (this.unfinished.size === 0) this.stream.push({ id: this.lastEventId, msg: errorEvent(end.error) });
      this.unfinished.clear();
    }
    this.stream.end();
    for (const wake of this.slotWaiters.splice(0)) wake();
    this.markEnded(end);
  }

  /** Events left the buffer: the worker gets credit for its own, once per microtask. */
  private consumed(count: number): void {
    const stale = Math.min(count, this.uncredited);
    this.uncredited -= stale;
    if (count === stale || this.target?.credit === undefined) return;
    this.owed += count - stale;
    if (this.crediting) return;
    this.crediting = true;
    queueMicrotask(() => {
      this.crediting = false;
      const owed = this.owed;
      this.owed = 0;
      if (owed > 0) this.target?.credit?.(owed);
    });
  }

  /** Slots handed to woken waiters that have not sent yet. */
  private reserved = 0;

  private async enqueue(submission: Submission): Promise<void> {
    this.throwIfEnded();
    const op = submission.op;
    if (op.type === "exec_approval" || op.type === "patch_approval") this.takeApproval(op.id);
    if (this.untaken.length + this.reserved >= this.capacity || this.slotWaiters.length > 0) {
      // credit() reserves our slot before waking us.
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
      this.throwIfEnded();
      this.reserved -= 1;
    }
    this.untaken.push(submission);
    if (startsTask(op)) this.unfinished.add(submission.id);
    this.target?.submit(submission);
    this.updateKeepAlive();
  }

  private track(event: Event): void {
    const msg = event.msg;
    switch (msg.type) {
      case "task_started":
        this.started.add(event.id);
        break;
      case "task_complete":
      case "turn_aborted":
        this.started.delete(event.id);
        this.unfinished.delete(event.id);
        for (let i = this.pendingApprovals.length - 1; i >= 0; i--) {
          if (this.pendingApprovals[i]?.eventId === event.id) this.pendingApprovals.splice(i, 1);
        }
        break;
      case "exec_approval_request":
        this.pendingApprovals.push({
          eventId: event.id,
          callId: msg.call_id,
          kind: "exec",
          path: msg.conversation_path ?? [this.conversationId],
          command: msg.command,
        });
        break;
      case "apply_patch_approval_request":
        this.pendingApprovals.push({
          eventId: event.id,
          callId: msg.call_id,
          kind: "patch",
          path: msg.conversation_path ?? [this.conversationId],
        });
        break;
      default:
        break;
    }
  }

  private takeApproval(id: string): void {
    const index = this.pendingApprovals.findIndex((p) => p.eventId === id || p.callId === id);
    if (index < 0) throw new UnknownApprovalError(id);
    this.pendingApprovals.splice(index, 1);
  }

  private throwIfEnded(): void {
    if (this.endResult) throw this.endError();
  }

  private endError(): Error {
    const end = this.endResult;
    if (end && !end.ok) return end.error;
    return new InternalAgentDiedError();
  }
}

/** Ops that start a task of their own when the session is idle. */
function startsTask(op: Op): boolean {
  return op.type === "user_input" || op.type === "user_turn" || op.type === "review" || op.type === "compact";
}
