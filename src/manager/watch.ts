// A read-only view of a sub-agent's events (manager.watch): while one is open, the sub-agent's worker copies
// every event it sends its parent to the supervisor too. Submitting is refused: a sub-agent's input comes from
// its parent. The watch ends when the sub-agent ends, or when it is closed.
import { ReadOnlyConversationError } from "../errors.js";
import type { Event } from "../protocol/index.js";
import { AsyncQueue } from "../util/async-queue.js";

export class ConversationWatch {
  private readonly queue = new AsyncQueue<Event>();

  constructor(
    readonly conversationId: string,
    private readonly onClose: (watch: ConversationWatch) => void,
  ) {}

  /** The watched conversation's events from the moment the watch was opened, until it ends or the watch closes. */
  async *events(): AsyncGenerator<Event, void, undefined> {
    for (;;) {
      const next = await this.queue.next();
      if (next.done) return;
      yield next.value;
    }
  }

  /** Always rejects with ReadOnlyConversationError. */
  submit(_op?: unknown): Promise<never> {
    return Promise.reject(new ReadOnlyConversationError(this.conversationId));
  }

  /** Always rejects with ReadOnlyConversationError. */
  submitWithId(_submission?: unknown): Promise<never> {
    return this.submit();
  }

  get isClosed(): boolean {
    return this.queue.isEnded;
  }

  /** Stops watching; `events()` ends after what was already received. */
  close(): void {
    if (this.queue.isEnded) return;
    this.queue.end();
    this.onClose(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // --- the manager's side ---

  deliver(event: Event): void {
    this.queue.push(event);
  }

  /** The watched conversation has ended. */
  end(): void {
    this.queue.end();
  }
}
