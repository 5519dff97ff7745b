// Approval requests waiting for the client's answer. Like Codex, a request is keyed by the id of the event that
// carried it (the turn's submission id); later Codex keys by call id, so an answer naming the call id is
// accepted too. A request whose turn is aborted resolves as `denied`: the tool never runs.
import type { ReviewDecision } from "../protocol/index.js";

type Pending = { eventId: string; callId: string; resolve(decision: ReviewDecision): void };

export class PendingApprovals {
  private readonly pending: Pending[] = [];

  /** Waits for the answer to a request just emitted under `eventId` for tool call `callId`. */
  wait(eventId: string, callId: string, signal: AbortSignal): Promise<ReviewDecision> {
    return new Promise((resolve) => {
      const entry: Pending = {
        eventId,
        callId,
        resolve: (decision) => {
          signal.removeEventListener("abort", onAbort);
          this.remove(entry);
          resolve(decision);
        },
      };
      const onAbort = (): void => entry.resolve("denied");
      if (signal.aborted) return resolve("denied");
      signal.addEventListener("abort", onAbort, { once: true });
      this.pending.push(entry);
    });
  }

  /** Delivers a decision. Returns false when no request matches `id`: nothing is resolved. */
  answer(id: string, decision: ReviewDecision): boolean {
    const entry = this.pending.find((p) => p.eventId === id) ?? this.pending.find((p) => p.callId === id);
    if (entry === undefined) return false;
    entry.resolve(decision);
    return true;
  }

  has(id: string): boolean {
    return this.pending.some((p) => p.eventId === id || p.callId === id);
  }

  private remove(entry: Pending): void {
    const index = this.pending.indexOf(entry);
    if (index >= 0) this.pending.splice(index, 1);
  }
}
