// The worker side of a sub-agent: the parent's worker talks to the child's worker over their own port. Ops go
// out, events come in; the child's end is told by the supervisor (it alone sees the child's thread).
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
import type { Event, Op } from "../protocol/index.js";
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
  private readonly port: FramedPort<ToWorker>;
  private nextSubmissionId = 0;
  private endResult: ChildEnd | undefined;
  private markEnded!: (end: ChildEnd) => void;
  private readonly portClosed: Promise<void>;

  constructor(private readonly options: PortChildClientOptions) {
    this.conversationId = options.conversationId;
    this.rolloutPath = options.rolloutPath;
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
    let closed!: () => void;
    this.portClosed = new Promise((resolve) => (closed = resolve));
    this.port = createFramedPort<FromWorker, ToWorker>(
      options.port,
      {
        onMessage: (message) => {
          if (message.type === "llmx/event") this.events.push(message.event);
        },
        onClose: () => {
          closed();
          this.events.end();
        },
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
    return next.done ? undefined : next.value;
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
