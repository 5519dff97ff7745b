// A conversation's events as the supervisor holds them for its readers: one buffer, a cursor per reader, and
// each event dropped from the buffer once every reader has read it. What leaves the buffer is what the worker
// gets credit back for, so the slowest reader paces the conversation and the buffer never holds more than the
// worker's event window (plus the few notices the handle adds itself when a worker dies).
//
// The "default" reader exists from the start and holds every event until somebody reads it: `nextEvent()`
// reads it, and the first `events()` reader takes it over (its backlog included) as long as `nextEvent()` has
// not been used. Whenever the last reader goes away, a fresh default reader holds what comes next.
import type { Event } from "../protocol/index.js";

export class EventStream {
  private entries: (Event | undefined)[] = [];
  /** Sequence number of `entries[start]`; `start` is an offset into `entries` (compacted now and then). */
  private base = 0;
  private start = 0;
  private readonly readers = new Set<EventReader>();
  private defaultReader: EventReader | undefined;
  /** Whether `nextEvent()` has read the current default reader. */
  private defaultUsed = false;
  private ended = false;

  /** Readers waiting for an event now (a reader waiting for an event is a reason to keep the process alive). */
  private waiting = 0;

  /**
   * `consumed(n)`: every reader has read `n` more events (they left the buffer). `waitingChanged()`: the number of
   * readers waiting for an event changed.
   */
  constructor(
    private readonly consumed: (count: number) => void,
    private readonly waitingChanged: () => void = () => undefined,
  ) {
    this.defaultReader = this.subscribeAt(this.head);
  }

  get waitingReaders(): number {
    return this.waiting;
  }

  /** A reader started (+1) or stopped (-1) waiting. */
  readerWaiting(delta: 1 | -1): void {
    this.waiting += delta;
    this.waitingChanged();
  }

  /** Events held for readers that have not read them all yet. */
  get buffered(): number {
    return this.head - this.base;
  }

  /** Readers subscribed now, the default reader included. */
  get readerCount(): number {
    return this.readers.size;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  push(event: Event): void {
    if (this.ended) return;
    this.entries.push(event);
    for (const reader of this.readers) reader.wake();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const reader of [...this.readers]) reader.wake();
  }

  /** The default reader's next event (`nextEvent()`): done once the stream has ended and it has read it all. */
  nextDefault(): Promise<IteratorResult<Event, undefined>> {
    this.defaultReader ??= this.subscribeAt(this.head);
    this.defaultUsed = true;
    return this.defaultReader.next();
  }

  /**
   * A new reader, subscribed now: it takes over the default reader's backlog if nobody has used `nextEvent()`,
   * and otherwise sees the events from here on.
   */
  subscribe(): EventReader {
    const inherited = this.defaultReader;
    if (inherited !== undefined && !this.defaultUsed) {
      this.defaultReader = undefined;
      return inherited;
    }
    return this.subscribeAt(this.head);
  }

  // --- for readers ---

  get head(): number {
    return this.base + this.entries.length - this.start;
  }

  at(seq: number): Event {
    return this.entries[this.start + seq - this.base] as Event;
  }

  advanced(): void {
    let min = this.head;
    for (const reader of this.readers) min = Math.min(min, reader.cursor);
    const count = min - this.base;
    if (count <= 0) return;
    for (let i = 0; i < count; i++) this.entries[this.start + i] = undefined;
    this.start += count;
    this.base = min;
    if (this.start > 1024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
    this.consumed(count);
  }

  unsubscribe(reader: EventReader): void {
    if (!this.readers.delete(reader)) return;
    if (this.defaultReader === reader) this.defaultReader = undefined;
    // Nobody reads: a fresh default reader holds what comes next, for the next `events()` or `nextEvent()`.
    if (this.readers.size === 0 && !this.ended) {
      this.defaultReader = this.subscribeAt(this.head);
      this.defaultUsed = false;
    }
    this.advanced();
  }

  private subscribeAt(cursor: number): EventReader {
    const reader = new EventReader(this, cursor);
    this.readers.add(reader);
    return reader;
  }
}

/**
 * One reader of a conversation's events, from the point it subscribed; `return()` (a `break` out of
 * `for await`) unsubscribes it. It is its own iterator: iterating it twice continues where it was.
 */
export class EventReader implements AsyncIterableIterator<Event, undefined> {
  private waiters: ((result: IteratorResult<Event, undefined>) => void)[] = [];
  private closed = false;

  constructor(
    private readonly stream: EventStream,
    public cursor: number,
  ) {}

  /** Events this reader has not read yet. */
  get backlog(): number {
    return this.stream.head - this.cursor;
  }

  next(): Promise<IteratorResult<Event, undefined>> {
    if (this.waiters.length === 0) {
      const ready = this.take();
      if (ready !== undefined) return Promise.resolve(ready);
    }
    if (this.waiters.length === 0) this.stream.readerWaiting(1);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  return(): Promise<IteratorResult<Event, undefined>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** New events, or the end: hands them to whoever waits. */
  wake(): void {
    while (this.waiters.length > 0) {
      const ready = this.take();
      if (ready === undefined) return;
      const waiter = this.waiters.shift();
      // take() closed the reader at the end of the stream: its waiters were answered there.
      if (waiter === undefined) return;
      if (this.waiters.length === 0) this.stream.readerWaiting(-1);
      waiter(ready);
    }
  }

  private take(): IteratorResult<Event, undefined> | undefined {
    if (this.closed) return { value: undefined, done: true };
    if (this.cursor < this.stream.head) {
      const value = this.stream.at(this.cursor);
      this.cursor += 1;
      this.stream.advanced();
      return { value, done: false };
    }
    if (this.stream.isEnded) {
      this.close();
      return { value: undefined, done: true };
    }
    return undefined;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.unsubscribe(this);
    const waiters = this.waiters.splice(0);
    if (waiters.length > 0) this.stream.readerWaiting(-1);
    for (const waiter of waiters) waiter({ value: undefined, done: true });
  }
}
