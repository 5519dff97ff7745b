// A worker's events under flow control. The client (the supervisor, or a parent's worker) grants a window of
// events; every event sent spends one credit and the client returns credit as its readers consume. With no
// credit left, events wait here in order, and waiting deltas are coalesced so that a chatty command or model
// cannot grow the queue: a delta merges into a waiting delta of the same stream (same call and stream for
// command output, same item for agent text), and merged command output keeps only its first and last bytes
// past a bound, with a marker saying how much was left out. Every other event waits whole, never dropped; the
// session holds back on its own (`room()`) once too many of them wait. Non-event messages (the submission
// credits) keep their place in the order and need no credit.
import type { FromWorker } from "../channel/index.js";
import type { Event } from "../protocol/index.js";

/** Bytes one waiting command-output delta keeps at most (half from its start, half from its end). */
export const MAX_COALESCED_OUTPUT_BYTES = 64 * 1024;
/** Waiting events past which the session stops taking more work (`room()`). */
export const OUTBOX_HIGH_WATER = 64;

type Waiting =
  | { kind: "message"; message: FromWorker }
  | { kind: "event"; event: Event }
  | { kind: "output"; id: string; callId: string; stream: "stdout" | "stderr"; head: Buffer[]; headBytes: number; tail: Buffer[]; tailBytes: number; dropped: number }
  | { kind: "text"; id: string; type: string; itemId: string | undefined; base: Event; parts: string[] };

export type EventOutboxOptions = {
  send(message: FromWorker): void;
  /** Events the client grants at the start; undefined: no flow control (everything goes at once). */
  window?: number | undefined;
  maxOutputBytes?: number;
  highWater?: number;
};

export class EventOutbox {
  private credits: number;
  private readonly waiting: Waiting[] = [];
  /** Waiting entries that are not deltas (what `room()` bounds). */
  private whole = 0;
  private readonly maxOutputBytes: number;
  private readonly highWater: number;
  private roomWaiters: (() => void)[] = [];

  constructor(private readonly options: EventOutboxOptions) {
    this.credits = options.window ?? Number.POSITIVE_INFINITY;
    this.maxOutputBytes = options.maxOutputBytes ?? MAX_COALESCED_OUTPUT_BYTES;
    this.highWater = options.highWater ?? OUTBOX_HIGH_WATER;
  }

  /** Entries waiting for credit (a coalesced delta counts once). */
  get size(): number {
    return this.waiting.length;
  }

  deliver(event: Event): void {
    if (this.waiting.length === 0 && this.credits > 0) {
      this.credits -= 1;
      this.options.send({ type: "llmx/event", event });
      return;
    }
    if (!this.coalesce(event)) this.push({ kind: "event", event });
  }

  /** A message that keeps its place after the events before it, without spending credit. */
  message(message: FromWorker): void {
    if (this.waiting.length === 0) this.options.send(message);
    else this.push({ kind: "message", message });
  }

  /** The client returned `count` credits. */
  grant(count: number): void {
    this.credits += count;
    this.pump();
  }

  /** Sends everything still waiting, credit or not (the session has ended: what it holds is bounded). */
  flushAll(): void {
    this.credits = Number.POSITIVE_INFINITY;
    this.pump();
  }

  /**
   * Undefined while the session may go on producing; otherwise a promise that resolves once fewer than the
   * high-water mark of whole events wait (or `signal` aborts).
   */
  room(signal?: AbortSignal): Promise<void> | undefined {
    if (this.whole < this.highWater) return undefined;
    return new Promise((resolve) => {
      const done = (): void => {
        signal?.removeEventListener("abort", done);
        resolve();
      };
      signal?.addEventListener("abort", done, { once: true });
      this.roomWaiters.push(done);
    });
  }

  private push(entry: Waiting): void {
    if (entry.kind === "event" || entry.kind === "message") this.whole += 1;
    this.waiting.push(entry);
  }

  private pump(): void {
    let sent = 0;
    while (sent < this.waiting.length) {
      const entry = this.waiting[sent] as Waiting;
      if (entry.kind === "message") {
        this.options.send(entry.message);
      } else {
        if (this.credits <= 0) break;
        this.credits -= 1;
        this.options.send({ type: "llmx/event", event: materialize(entry) });
      }
      if (entry.kind === "event" || entry.kind === "message") this.whole -= 1;
      sent += 1;
    }
    if (sent > 0) this.waiting.splice(0, sent);
    if (this.whole < this.highWater && this.roomWaiters.length > 0) {
      const waiters = this.roomWaiters;
      this.roomWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Merges a delta into a waiting delta of the same stream, among the deltas at the end of the queue. */
  private coalesce(event: Event): boolean {
    const msg = event.msg;
    let found: Waiting | undefined;
    const matches = (entry: Extract<Waiting, { kind: "output" | "text" }>): boolean => {
      if (entry.id !== event.id) return false;
      switch (msg.type) {
        case "exec_command_output_delta":
          return entry.kind === "output" && entry.callId === msg.call_id && entry.stream === msg.stream;
        case "agent_message_content_delta":
          return entry.kind === "text" && entry.type === msg.type && entry.itemId === msg.item_id;
        default:
          return entry.kind === "text" && entry.type === msg.type;
      }
    };
    if (!isCoalescable(msg.type)) return false;
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const entry = this.waiting[i] as Waiting;
      if (entry.kind !== "output" && entry.kind !== "text") break;
      if (matches(entry)) {
        found = entry;
        break;
      }
    }
    if (msg.type === "exec_command_output_delta") {
      const bytes = Buffer.from(msg.chunk, "base64");
      if (found?.kind === "output") this.appendOutput(found, bytes);
      else {
        const entry: Waiting = { kind: "output", id: event.id, callId: msg.call_id, stream: msg.stream, head: [], headBytes: 0, tail: [], tailBytes: 0, dropped: 0 };
        this.appendOutput(entry, bytes);
        this.push(entry);
      }
      return true;
    }
    const delta = (msg as { delta: string }).delta;
    if (found?.kind === "text") found.parts.push(delta);
    else {
      const itemId = msg.type === "agent_message_content_delta" ? msg.item_id : undefined;
      this.push({ kind: "text", id: event.id, type: msg.type, itemId, base: event, parts: [delta] });
    }
    return true;
  }

  private appendOutput(entry: Extract<Waiting, { kind: "output" }>, bytes: Buffer): void {
    const half = Math.floor(this.maxOutputBytes / 2);
    let rest = bytes;
    if (entry.headBytes < half) {
      const take = rest.subarray(0, half - entry.headBytes);
      entry.head.push(take);
      entry.headBytes += take.length;
      rest = rest.subarray(take.length);
    }
    if (rest.length === 0) return;
    entry.tail.push(rest);
    entry.tailBytes += rest.length;
    // Past the bound, the oldest tail bytes go (the middle of the output).
    while (entry.tailBytes > this.maxOutputBytes - half) {
      const first = entry.tail[0] as Buffer;
      const excess = entry.tailBytes - (this.maxOutputBytes - half);
      if (first.length <= excess) {
        entry.tail.shift();
        entry.tailBytes -= first.length;
        entry.dropped += first.length;
      } else {
        entry.tail[0] = first.subarray(excess);
        entry.tailBytes -= excess;
        entry.dropped += excess;
      }
    }
  }
}

const COALESCABLE = new Set([
  "exec_command_output_delta",
  "agent_message_delta",
  "agent_message_content_delta",
  "agent_reasoning_delta",
  "agent_reasoning_raw_content_delta",
]);

function isCoalescable(type: string): boolean {
  return COALESCABLE.has(type);
}

/** The text put where coalesced command output left bytes out. */
export function droppedOutputMarker(dropped: number): string {
  return `\n[... ${dropped} bytes of output not delivered: the client was not reading ...]\n`;
}

function materialize(entry: Exclude<Waiting, { kind: "message" }>): Event {
  switch (entry.kind) {
    case "event":
      return entry.event;
    case "text":
      return { id: entry.id, msg: { ...entry.base.msg, delta: entry.parts.join("") } as Event["msg"] };
    case "output": {
      const parts = entry.dropped > 0 ? [...entry.head, Buffer.from(droppedOutputMarker(entry.dropped)), ...entry.tail] : [...entry.head, ...entry.tail];
      return {
        id: entry.id,
        msg: { type: "exec_command_output_delta", call_id: entry.callId, stream: entry.stream, chunk: Buffer.concat(parts).toString("base64") },
      };
    }
  }
}
