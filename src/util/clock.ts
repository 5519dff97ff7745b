// Time and ids are injected so tests can control them (no Date.now(), setTimeout or randomUUID() inside logic).
// A Clock's timer half has the shape XState expects of its system clock, so one clock drives the machines'
// delayed transitions and every deadline outside them.
//
// Random bytes for ids come from /dev/urandom, read a few KiB at a time, where it can be read: a worker thread
// then never loads a crypto module for its ids (the global `crypto` costs ~1 ms of a thread's CPU on first use,
// and a regular turn makes one id). Elsewhere they come from the global `crypto`.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export type TimerId = unknown;

export interface Clock {
  now(): Date;
  /** Calls `fn` once after `ms`. System timers never keep the process alive on their own. */
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

export const systemClock: Clock = {
  now: () => new Date(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};

/** Resolves after `ms` on `clock`; rejects with the signal's reason when it aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Races `promise` against a deadline on `clock`: `undefined` when the deadline comes first. */
export async function withDeadline<T>(clock: Clock, promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: TimerId;
  const deadline = new Promise<undefined>((resolve) => (timer = clock.setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clock.clearTimeout(timer);
  }
}

/** A clock that moves only when told to: timers due by the new time fire in order, each at its own time. */
export class ManualClock implements Clock {
  private current: number;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start: Date | number = 0) {
    this.current = typeof start === "number" ? start : start.getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = this.nextId++;
    this.timers.set(id, { at: this.current + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(id: TimerId): void {
    this.timers.delete(id as number);
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward by `ms` without firing anything, as an event loop that was blocked sees it: the timers that
   * fell due fire, late, at the next `advance`.
   */
  stall(ms: number): void {
    this.current += ms;
  }

  /** Moves time forward by `ms`, firing every timer that falls due (timers set while firing included). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= target && (due === undefined || entry[1].at < due[1].at)) due = entry;
      }
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.current = Math.max(this.current, due[1].at);
      due[1].fn();
    }
    this.current = target;
  }
}

/**
 * Milliseconds from an arbitrary origin, never going back: for durations and deadlines. performance.now() would
 * load perf_hooks into every worker thread that asks (~0.6 ms of a thread's start).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface IdSource {
  /** A new conversation id: a time-ordered UUID v7, as Codex assigns. */
  conversationId(): string;
  /** A random UUID v4 (turn item ids). */
  itemId(): string;
}

const POOL_BYTES = 4096;
let pool: Buffer | undefined;
let poolOffset = POOL_BYTES;
let urandom = process.platform !== "win32";

/** `n` (at most 64) cryptographically random bytes. */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new RangeError(`randomBytes takes 0 to 64 bytes, not ${n}`);
  if (urandom && poolOffset + n > POOL_BYTES) {
    try {
      const fd = openSync("/dev/urandom", "r");
      try {
        // A regular file or /dev/zero in its place (an odd chroot) would make every id the same.
        if (!fstatSync(fd).isCharacterDevice()) throw new Error("/dev/urandom is not a character device");
        pool ??= Buffer.allocUnsafe(POOL_BYTES);
        if (readSync(fd, pool, 0, POOL_BYTES, null) !== POOL_BYTES) throw new Error("short read from /dev/urandom");
        poolOffset = 0;
      } finally {
        closeSync(fd);
      }
    } catch {
      urandom = false;
    }
  }
  if (!urandom || pool === undefined) return crypto.getRandomValues(new Uint8Array(n));
  const bytes = Uint8Array.prototype.slice.call(pool, poolOffset, poolOffset + n);
  poolOffset += n;
  return bytes;
}

/** RFC 9562 UUID v4: version 4, 122 random bits. */
export function uuidv4(random: Uint8Array = randomBytes(16)): string {
  const bytes = Buffer.from(random.subarray(0, 16));
  bytes[6] = 0x40 | ((bytes[6] ?? 0) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  return formatUuid(bytes);
}

function formatUuid(bytes: Buffer): string {
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** RFC 9562 UUID v7: 48-bit unix milliseconds, version 7, 74 random bits. */
export function uuidv7(nowMs: number, random: Uint8Array = randomBytes(10)): string {
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes.set(random.subarray(0, 10), 6);
  bytes[6] = 0x70 | ((bytes[6] ?? 0) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  return formatUuid(bytes);
}

export function createIdSource(clock: Clock = systemClock): IdSource {
  return {
    conversationId: () => uuidv7(clock.now().getTime()),
    itemId: () => uuidv4(),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
