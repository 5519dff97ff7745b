// The supervisor's view of a sub-agent's worker. The sub-agent's events go to its parent's worker, not here;
// the supervisor keeps the lifecycle: ready, configured, its own sub-agent requests, the end and its cause.
import type { MessagePort, TransferListItem } from "node:worker_threads";
import { setTimeout as sleep } from "node:timers/promises";
import { createFramedPort, decodeFromWorker, type FramedPort, type FromWorker, type ToWorker } from "../channel/index.js";
import type { ConversationEnd } from "./conversation.js";
import { WorkerWatch } from "./worker-watch.js";

export type ChildLifecycleOptions = {
  conversationId: string;
  rolloutPath: string;
  /** The supervisor end of the child's supervision channel. */
  port: MessagePort;
  task: Promise<unknown>;
  kill(): void;
  onControl(message: FromWorker): void;
};

export class ChildLifecycle {
  readonly conversationId: string;
  readonly rolloutPath: string;
  readonly ready: Promise<void>;
  readonly ended: Promise<ConversationEnd>;
  private readonly port: FramedPort<ToWorker>;
  private readonly watch: WorkerWatch;
  private endResult: ConversationEnd | undefined;

  constructor(options: ChildLifecycleOptions) {
    this.conversationId = options.conversationId;
    this.rolloutPath = options.rolloutPath;
    this.watch = new WorkerWatch(options.conversationId, options.kill);
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.port = createFramedPort<FromWorker, ToWorker>(
      options.port,
      {
        onMessage: (message) => {
          if (!this.watch.observe(message)) options.onControl(message);
          else if (message.type === "llmx/ready") markReady();
        },
      },
      { decode: decodeFromWorker },
    );
    this.ended = options.task.then(
      () => (this.endResult = { ok: true }),
      (error: unknown) => (this.endResult = { ok: false, error: this.watch.crashed(error) }),
    );
  }

  get isEnded(): boolean {
    return this.endResult !== undefined;
  }

  sendControl(message: ToWorker, transfer: readonly TransferListItem[] = []): void {
    if (transfer.length > 0) this.port.sendTransfer(message, transfer);
    else this.port.send(message);
  }

  /** Asks the child's session to shut down; kills its worker if it has not ended within the timeout. */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<ConversationEnd> {
    if (this.endResult) return this.endResult;
    this.port.send({ type: "llmx/shutdown" });
    const timeout = sleep(options.timeoutMs ?? 10_000, undefined, { ref: false }).then(() => undefined);
    const end = await Promise.race([this.ended, timeout]);
    if (end) return end;
    this.watch.terminate();
    return this.ended;
  }

  terminate(): void {
    this.watch.terminate();
  }

  get threadId(): number | undefined {
    return this.watch.threadId;
  }
}
