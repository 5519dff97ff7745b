// The session's single outlet: rollout lines and events leave in the order they were produced, and every
// persisted line is written to the file before the event that carries it is delivered, so a crash never
// loses what a client has already seen. Entries queued while a write is in flight are written together
// (group commit), which keeps a streaming turn to about one write per event-loop turn. A write that fails stops
// the sink for good (fail-stop, as Codex persists before it sends): nothing after it is delivered, so no client
// ever sees an event as if it had been recorded when it was not.
import type { Event, EventMsg, RolloutItem } from "../protocol/index.js";
import type { RolloutRecorder } from "../rollout/recorder.js";
import { isPersistedRolloutItem } from "../rollout/policy.js";

export interface EventSink {
  /** Delivers an event (persisting it first when the policy says so). */
  emit(id: string, msg: EventMsg): void;
  /** Appends items to the rollout without delivering anything. */
  record(items: readonly RolloutItem[]): void;
  /** Runs `fn` once everything queued before it has been written and delivered, in order with the events. */
  then(fn: () => void): void;
  /** Resolves when everything queued so far is written and handed to the transport. */
  flushed(): Promise<void>;
  /** Rejects with the write error once a write has failed; never resolves otherwise. */
  readonly failed: Promise<never>;
}

type Entry = { items: readonly RolloutItem[]; event?: Event; then?: () => void };

export type RecorderLike = Pick<RolloutRecorder, "write">;

export function createEventSink(options: {
  recorder: RecorderLike;
  deliver(event: Event): void;
}): EventSink {
  let queue: Entry[] = [];
  let pumping: Promise<void> | undefined;
  let failure: unknown;
  let fail!: (error: unknown) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);

  const pump = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      const items = batch.flatMap((entry) => entry.items);
      if (items.length > 0) {
        try {
          await options.recorder.write(items);
        } catch (error) {
          failure = error;
          queue = [];
          fail(error);
          break;
        }
      }
      for (const entry of batch) {
        if (entry.event) options.deliver(entry.event);
        entry.then?.();
      }
    }
    pumping = undefined;
  };

  const enqueue = (entry: Entry): void => {
    if (failure !== undefined) return;
    queue.push(entry);
    // Start the pump on a microtask so that `pumping` is set before it runs and cleared by it when it ends.
    pumping ??= Promise.resolve().then(pump);
  };

  return {
    emit(id, msg) {
      const item: RolloutItem = { type: "event_msg", payload: msg };
      enqueue({ items: isPersistedRolloutItem(item) ? [item] : [], event: { id, msg } });
    },
    record(items) {
      if (items.length > 0) enqueue({ items });
    },
    then(fn) {
      enqueue({ items: [], then: fn });
    },
    async flushed() {
      while (pumping) await pumping;
    },
    failed,
  };
}
