// One incarnation of a conversation's worker, seen from the supervisor: the same for top-level conversations and
// sub-agents. It starts the task, holds the supervision port (ready, heartbeat, fatal reports, process groups,
// sub-agent requests), checks that the session announces itself first, and says how the worker ended, with a
// reason taken from data llmx owns: a kill it asked for, the session's own fatal report, the thread's exit code
// or out-of-memory error. The commands a crashed worker left running are killed here.
import { MessageChannel, type MessagePort, type TransferListItem } from "node:worker_threads";
import type { ExitReason, WorkerEnd, WorkerHandle } from "../../machines/conversation.machine.js";
import {
  DEFAULT_EVENT_WINDOW,
  PORT_DRAIN_MS,
  createFramedPort,
  decodeFromWorker,
  type FramedPort,
  type FromWorker,
  type ToWorker,
} from "../channel/index.js";
import {
  SessionConfiguredNotFirstEventError,
  WorkerCrashedError,
  deserializeError,
  type SerializedError,
} from "../errors.js";
import { isSessionConfiguredFirst, type Event, type EventMsgOf } from "../protocol/index.js";
import type { SessionInit } from "../session/session.js";
import type { ConversationTask, ConversationTaskResult } from "../session/worker-task.js";
import { type Clock, withDeadline } from "../util/clock.js";
import { killProcessGroups } from "./process-groups.js";
import type { WorkerRuntime } from "./runtime.js";

/** Where a top-level conversation's events and credits go: its `Conversation` handle. */
export interface EventSinkForLink {
  deliver(event: Event): void;
  credit(count: number): void;
}

export type WorkerLinkOptions = {
  conversationId: string;
  init: SessionInit;
  threads: WorkerRuntime;
  clock: Clock;
  /** A top-level conversation's events come here; a sub-agent's go to its parent's worker (`childPort`). */
  sink?: EventSinkForLink;
  /** Supervision messages the link does not handle itself (sub-agent requests). */
  onControl(message: FromWorker): void;
  /** The events the worker may send before its client returns credit (DEFAULT_EVENT_WINDOW when absent). */
  eventWindow?: number;
  /**
   * A sub-agent's client channel, when its parent was handed `port1` before this worker started (a start waits
   * for admission); made here otherwise.
   */
  clientChannel?: MessageChannel;
};

export class WorkerLink implements WorkerHandle {
  readonly conversationId: string;
  /** A sub-agent's client port, for its parent's worker. */
  readonly childPort: MessagePort | undefined;
  readonly ready: Promise<void>;
  readonly configured: Promise<EventMsgOf<"session_configured"> | undefined>;
  readonly ended: Promise<WorkerEnd>;
  threadId: number | undefined;
  private readonly port: FramedPort<ToWorker>;
  private readonly abort = new AbortController();
  private readonly pongListeners = new Set<() => void>();
  private readonly processGroups = new Set<number>();
  private readonly threads: WorkerRuntime;
  private killReason: "killed" | "hung" | undefined;
  private fatal: Error | undefined;
  private stopSent = false;
  private endResult: WorkerEnd | undefined;
  private nextPing = 0;
  /** The supervisor's end of the supervision channel: ref'd while the link keeps the process alive. */
  private readonly supervisionPort: MessagePort;
  /** What the link's owner asked (`keepAlive`); starting, stopping and being killed keep it alive regardless. */
  private wantsAlive = true;
  private isConfigured = false;

  constructor(options: WorkerLinkOptions) {
    this.conversationId = options.conversationId;
    this.threads = options.threads;
    let ready!: () => void;
    this.ready = new Promise((resolve) => (ready = resolve));
    let configured!: (msg: EventMsgOf<"session_configured"> | undefined) => void;
    let invalid!: (error: Error) => void;
    this.configured = new Promise((resolve, reject) => ((configured = resolve), (invalid = reject)));
    // Unobserved when the worker dies first; the machine reads the end instead.
    this.configured.catch(() => undefined);
    void this.configured.then(
      () => {
        this.isConfigured = true;
        this.applyKeepAlive();
      },
      () => undefined,
    );
    let markPortClosed!: () => void;
    const portClosed = new Promise<void>((resolve) => (markPortClosed = resolve));

    const supervision = new MessageChannel();
    this.supervisionPort = supervision.port1;
    const client = options.sink ? undefined : (options.clientChannel ?? new MessageChannel());
    this.childPort = client?.port1;
    let first = true;
    this.port = createFramedPort<FromWorker, ToWorker>(
      supervision.port1,
      {
        onMessage: (message) => {
          switch (message.type) {
            case "llmx/event":
              if (first) {
                first = false;
                if (isSessionConfiguredFirst(message.event)) configured(message.event.msg);
                else invalid(new SessionConfiguredNotFirstEventError(message.event));
                // The link reads the first event itself: its credit goes straight back.
                this.port.send({ type: "llmx/event-credit", count: 1 });
              } else {
                options.sink?.deliver(message.event);
              }
              break;
            case "llmx/credit":
              options.sink?.credit(message.count);
              break;
            case "llmx/configured":
              configured(undefined);
              break;
            case "llmx/ready":
              this.threadId = message.threadId;
              if (message.threadId !== undefined) this.threads.watch(message.threadId);
              this.applyKeepAlive();
              if (this.killReason !== undefined) this.kill(this.killReason);
              ready();
              break;
            case "llmx/pong":
              for (const listener of this.pongListeners) listener();
              break;
            case "llmx/fatal":
              this.fatal = deserializeError(message.error as SerializedError);
              break;
            case "llmx/process-group":
              if (message.running) this.processGroups.add(message.pid);
              else this.processGroups.delete(message.pid);
              break;
            default:
              options.onControl(message);
          }
        },
        onClose: markPortClosed,
      },
      { decode: decodeFromWorker },
    );

    const eventWindow = options.eventWindow ?? DEFAULT_EVENT_WINDOW;
    const task: ConversationTask = client
      ? { port: client.port2, supervisorPort: supervision.port2, init: options.init, eventWindow }
      : { port: supervision.port2, init: options.init, eventWindow };
    const transfer: TransferListItem[] = client ? [client.port2, supervision.port2] : [supervision.port2];
    const run = options.threads.run(task, transfer, this.abort.signal);
    this.ended = run.then(
      async (result) => {
        await withDeadline(options.clock, portClosed, PORT_DRAIN_MS);
        const requested = this.stopSent || (result as ConversationTaskResult | undefined)?.ended === "shutdown";
        return this.finish({ ok: true, requested });
      },
      async (error: unknown) => {
        await withDeadline(options.clock, portClosed, PORT_DRAIN_MS);
        killProcessGroups(this.processGroups);
        this.processGroups.clear();
        return this.finish(this.crashed(error));
      },
    );
  }

  get isEnded(): boolean {
    return this.endResult !== undefined;
  }

  send(message: ToWorker, transfer: readonly TransferListItem[] = []): void {
    if (transfer.length > 0) this.port.sendTransfer(message, transfer);
    else this.port.send(message);
  }

  /**
   * Whether this conversation needs the host process to stay alive (a turn running, a reader waiting). An idle
   * one does not: a program that forgets `shutdown()` still exits. Until its session is configured, and once it
   * is stopping, the link keeps the process alive whatever was asked.
   */
  keepAlive(on: boolean): void {
    this.wantsAlive = on;
    this.applyKeepAlive();
  }

  private applyKeepAlive(): void {
    const on = this.endResult === undefined && (this.wantsAlive || !this.isConfigured || this.stopSent || this.killReason !== undefined);
    if (on) this.supervisionPort.ref();
    else this.supervisionPort.unref();
    if (this.threadId !== undefined) this.threads.keepAlive?.(this.threadId, this, on);
  }

  stop(): void {
    this.stopSent = true;
    this.applyKeepAlive();
    this.port.send({ type: "llmx/shutdown" });
  }

  kill(reason: "killed" | "hung"): void {
    if (this.endResult) return;
    this.killReason ??= reason;
    this.applyKeepAlive();
    if (this.threads.abortable) this.abort.abort();
    else if (this.threadId !== undefined) this.threads.kill(this.threadId, this.killReason);
    // Otherwise the worker has not started yet: it is killed as soon as it says where it runs.
  }

  drain(): void {
    this.port.drain();
  }

  ping(): void {
    this.port.send({ type: "llmx/ping", seq: this.nextPing++ });
  }

  onPong(listener: () => void): () => void {
    this.pongListeners.add(listener);
    return () => this.pongListeners.delete(listener);
  }

  private finish(end: WorkerEnd): WorkerEnd {
    this.endResult = end;
    this.applyKeepAlive();
    this.pongListeners.clear();
    return end;
  }

  /** Why the worker's task failed, from what llmx knows of it. */
  private crashed(error: unknown): WorkerEnd {
    const raw = error instanceof Error ? error : new Error(String(error));
    const facts = this.threads.factsOf(this.threadId);
    const outOfMemory = [facts.error, raw].some((e) => (e as { code?: unknown } | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY");
    let reason: ExitReason;
    let cause: unknown;
    // When llmx ended the thread, llmx says why; the thread pool's own words ("The task has been aborted") are
    // an implementation detail, kept as the cause.
    let detail: string | undefined;
    if (this.killReason !== undefined) {
      [reason, cause] = [this.killReason, raw];
      detail = this.killReason === "hung" ? "it did not answer in time" : "ended by its supervisor";
    } else if (outOfMemory) [reason, cause] = ["out_of_memory", facts.error ?? raw];
    else if (this.fatal !== undefined) [reason, cause] = ["threw", this.fatal];
    else if (facts.killedFor !== undefined) {
      [reason, cause] = ["killed", raw];
      detail = `its thread was ended by the supervisor (another conversation on it was ${facts.killedFor === "hung" ? "hung" : "killed"})`;
    } else if (facts.error !== undefined) [reason, cause] = ["threw", facts.error];
    else if (facts.exitCode !== undefined) [reason, cause] = ["exited", raw];
    else [reason, cause] = ["threw", raw];
    detail ??= cause instanceof Error ? cause.message : String(cause);
    const message = `conversation ${this.conversationId} worker ${DESCRIBE[reason]}: ${detail}`;
    return { ok: false, reason, error: new WorkerCrashedError(this.conversationId, reason, message, { cause }) };
  }
}

const DESCRIBE: Record<ExitReason, string> = {
  threw: "crashed",
  exited: "exited",
  out_of_memory: "ran out of memory",
  hung: "stopped answering (hung) and was killed",
  killed: "was killed",
};
