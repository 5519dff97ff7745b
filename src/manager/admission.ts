// Admission control for worker starts. Starting a thread is the expensive part of a conversation's life (a new
// V8 isolate, its modules parsed and compiled): a hundred started at once on two cores thrash, each taking the
// time of all. The gate lets a few starts run at a time and queues the rest in order; a queued start costs
// nothing but its place. A start holds its slot until its session has announced itself (or its worker ended).
import { LlmxError } from "../errors.js";

/** Starts allowed at once per core, unless the manager is told otherwise. */
export const STARTS_PER_CORE = 2;

export class StartGate {
  private running = 0;
  private readonly waiting: { admit: (release: () => void) => void; signal?: AbortSignal; onAbort?: () => void }[] = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`a start gate needs a limit of at least 1 (got ${limit})`);
  }

  /** Starts running now. */
  get active(): number {
    return this.running;
  }

  /** Starts waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Waits for a slot and returns its release function (calling it more than once releases once). A start whose
   * signal aborts while it waits leaves the queue and rejects.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abandoned());
    if (this.running < this.limit && this.waiting.length === 0) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => {
      const waiter: (typeof this.waiting)[number] = { admit: resolve };
      if (signal) {
        waiter.signal = signal;
        waiter.onAbort = () => {
          const index = this.waiting.indexOf(waiter);
          if (index >= 0) this.waiting.splice(index, 1);
          reject(abandoned());
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.waiting.push(waiter);
    });
  }

  /** A slot now if one is free and nobody is waiting for it, else undefined (for work that must not queue). */
  tryAcquire(): (() => void) | undefined {
    return this.running < this.limit && this.waiting.length === 0 ? this.take() : undefined;
  }

  private take(): () => void {
    this.running += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      this.admitNext();
    };
  }

  private admitNext(): void {
    while (this.running < this.limit) {
      const next = this.waiting.shift();
      if (next === undefined) return;
      if (next.onAbort) next.signal?.removeEventListener("abort", next.onAbort);
      next.admit(this.take());
    }
  }
}

function abandoned(): Error {
  return new LlmxError("the conversation was stopped while it waited for its turn to start");
}
