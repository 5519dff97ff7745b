// What the delegate layer needs of a child conversation and of the supervisor: a narrow queue pair (Codex's
// `{submit, next_event}`), never the supervisor's own handle. The session's worker task implements both.
import type { ChildSpawnRequest } from "../channel/messages.js";
import type { Event, Op } from "../protocol/index.js";

/** How a child's worker ended, as its supervisor reported it (`error` keeps its class and `reason`). */
export type ChildEnd = { ok: true } | { ok: false; error: Error };

export interface ChildClient {
  readonly conversationId: string;
  readonly rolloutPath: string;
  submit(op: Op): Promise<string>;
  /** The child's next event; `undefined` once its stream has ended. */
  nextEvent(): Promise<Event | undefined>;
  /** Resolves when the child's worker is done. Never rejects. */
  readonly ended: Promise<ChildEnd>;
  readonly isEnded: boolean;
  /** Asks the child to shut down; has its supervisor kill it when it has not ended within `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<ChildEnd>;
  /** Has the supervisor hard-stop the child. */
  terminate(): void;
}

/** What a session can ask of its supervisor. */
export interface SupervisorLink {
  /** Starts a sub-agent; resolves with a client whose events come straight from the child's worker. */
  spawnChild(request: ChildSpawnRequest): Promise<ChildClient>;
  /** Reports a command's process group, so that it does not outlive a worker that dies. */
  trackProcessGroup(pid: number, running: boolean): void;
}
