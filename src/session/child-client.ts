// The worker side of a sub-agent: the parent's worker talks to the child's worker over their own port. Ops go
// out, events come in; the child's end is told by the supervisor (it alone sees the child's thread). When the
// supervisor restarts the child, the client moves to the new incarnation's port: the task the child was running
// ends for the parent (an error, then task_complete) and the stream says it restarted.
import type { MessagePort } from "node:worker_threads";
import {
  PORT_DRAIN_MS,
  createFramedPort,
  decodeFromWorker,
  type FramedPort,
  type FromWorker,
  type ToWorker,
} from "../channel/index.js";
import type { ChildClient, ChildEnd } from "../delegate/child.js";
import type { Event, EventMsgOf, Op } from "../protocol/index.js";
import { AsyncQueue } from "../util/async-queue.js";
import { type Clock, withDeadline } from "../util/clock.js";

export type PortChildClientOptions = {
  conversationId: string;
  rolloutPath: string;
  port: MessagePort;
  clock: Clock;
  /** Asks the supervisor to hard-stop the child. */
  terminate(): void;
};

export class PortChildClient implements ChildClient {
  readonly conversationId: string;
  readonly rolloutPath: string;
  readonly ended: Promise<ChildEnd>;
  private readonly events = new AsyncQueue<Event>();
  private port!: FramedPort<ToWorker>;
  private portClosed!: Promise<void>;
  private nextSubmissionId = 0;
  private endResult: ChildEnd | undefined;
  private markEnded!: (end: ChildEnd) => void;
  /** Tasks the child started and has not completed. */
  private readonly running = new Set<string>();
  /** Queued events the current incarnation gets no credit back for (an earlier one's, our own notices). */
  private uncredited = 0;
  private owed = 0;

  constructor(private readonly options: PortChildClientOptions) {
    this.conversationId = options.conversationId;
    this.rolloutPath = options.rolloutPath;
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
    this.bind(options.port);
  }

  /** The supervisor restarted the child: its new incarnation is behind `port`. */
  restarted(port: MessagePort, reason: EventMsgOf<"conversation_restarted">["reason"], restarts: number): void {
    if (this.endResult) return;
    this.port.close();
    for (const id of this.running) {
      this.events.push({ id, msg: { type: "error", message: `sub-agent ${this.conversationId} restarted (${reason})`, code: "worker_crashed" } });
      this.events.push({ id, msg: { type: "task_complete", last_agent_message: null } });
    }
    this.running.clear();
    this.events.push({ id: "", msg: { type: "conversation_restarted", reason, restarts } });
    this.uncredited = this.events.size;
    this.owed = 0;
    this.bind(port, true);
  }

  private bind(port: MessagePort, restarted = false): void {
    let closed!: () => void;
    this.portClosed = new Promise((resolve) => (closed = resolve));
    // A restarted incarnation announces itself again; its parent already knows the child.
    let skipFirst = restarted;
    this.port = createFramedPort<FromWorker, ToWorker>(
      port,
      {
        onMessage: (message) => {
          if (message.type !== "llmx/event") return;
          if (skipFirst) {
            skipFirst = false;
            // Nobody reads it: its credit goes straight back.
            this.port.send({ type: "llmx/event-credit", count: 1 });
            return;
          }
          const { id, msg } = message.event;
          if (msg.type === "task_started") this.running.add(id);
          else if (msg.type === "task_complete" || msg.type === "turn_aborted") this.running.delete(id);
          this.events.push(message.event);
        },
        onClose: closed,
      },
      { decode: decodeFromWorker },
    );
  }

  get isEnded(): boolean {
    return this.endResult !== undefined;
  }

  submit(op: Op): Promise<string> {
    if (this.endResult) return Promise.reject(new Error(`sub-agent ${this.conversationId} has ended`));
    const id = String(this.nextSubmissionId++);
    this.port.send({ type: "llmx/submission", submission: { id, op } });
    return Promise.resolve(id);
  }

  async nextEvent(): Promise<Event | undefined> {
    const next = await this.events.next();
    if (next.done) return undefined;
    this.consumed();
    return next.value;
  }

  /** One event read: its worker may send one more (returned once per microtask). */
  private consumed(): void {
    if (this.uncredited > 0) {
      this.uncredited -= 1;
      return;
    }
    if (this.owed++ > 0) return;
    queueMicrotask(() => {
      const count = this.owed;
      this.owed = 0;
      if (count > 0 && !this.endResult) this.port.send({ type: "llmx/event-credit", count });
    });
  }

  async shutdown(timeoutMs: number): Promise<ChildEnd> {
    if (this.endResult) return this.endResult;
    this.port.send({ type: "llmx/shutdown" });
    const end = await withDeadline(this.options.clock, this.ended, timeoutMs);
    if (end) return end;
    this.terminate();
    return this.ended;
  }

  terminate(): void {
    if (!this.endResult) this.options.terminate();
  }

  /**
   * The supervisor's word that the child's worker is done. Its last events travel on the child's own port, so
   * they are let in until that port closes (bounded: a dead thread's port may close late).
   */
  end(end: ChildEnd): void {
    if (this.endResult) return;
    this.endResult = end;
    void withDeadline(this.options.clock, this.portClosed, PORT_DRAIN_MS).then(() => {
      this.events.end();
      this.port.close();
      this.markEnded(end);
    });
  }
}
