// Codex's codex_delegate across threads: a conversation starts a child conversation (its own worker, its own
// rollout) and talks to it over their own channel. The child's legacy deltas and session_configured are
// filtered out; its approval requests are raised by this conversation to its own client (which may itself be
// a parent) and the decision is relayed down; the commands it runs are shown to this conversation's client too
// (nothing runs where the top-level client cannot see it); cancelling this conversation's turn cancels the child.
import type { ChildOverrides, ChildSpawnRequest } from "../channel/messages.js";
import { SessionConfiguredNotFirstEventError } from "../errors.js";
import type { Event, EventMsg, EventMsgOf, ReviewDecision, UserInput } from "../protocol/index.js";
import { isSessionConfiguredFirst } from "../protocol/plain.js";
import { type Clock, withDeadline } from "../util/clock.js";
import type { ChildClient, SupervisorLink } from "./child.js";

export type DelegateContext = {
  /** This (the parent) conversation's id. */
  selfId: string;
  /** The parent's turn that delegates: its events and approval requests carry this id. */
  subId: string;
  supervisor: SupervisorLink;
  /** Waits for this conversation's client to answer a request raised under `subId` for `callId`. */
  waitForApproval(subId: string, callId: string, signal: AbortSignal): Promise<ReviewDecision>;
  /** Emits an event to the parent's client under `subId`. */
  emit(msg: EventMsg): void;
  /** The parent turn's cancellation. */
  signal: AbortSignal;
  /**
   * The parent's current turn settings (cwd, approval and sandbox policy, model): a child works under the
   * same rules its parent works under now, not the ones the parent was started with.
   */
  inherit: ChildOverrides;
  clock: Clock;
  /**
   * Undefined while the parent's client keeps up; otherwise resolves once it has caught up (or `signal`
   * aborts). The child's events are read no faster, so the child is paced by the client at the top.
   */
  room?(signal: AbortSignal): Promise<void> | undefined;
};

/** How long a cancelled child gets to report turn_aborted before it is shut down. */
export const CHILD_CANCEL_DRAIN_MS = 500;
/** How long a child gets to shut down before its supervisor kills it. */
export const CHILD_SHUTDOWN_TIMEOUT_MS = 2_000;

const FILTERED: ReadonlySet<string> = new Set(["agent_message_delta", "agent_reasoning_delta", "session_configured"]);

/** An interactive sub-agent: ops in, (filtered) events out. */
class Delegate {
  private pendingNext: Promise<Event | undefined> | undefined;

  constructor(
    readonly child: ChildClient,
    private readonly ctx: DelegateContext,
  ) {}

  /** The child's events, filtered, until it ends or the parent's turn is cancelled. */
  async *events(): AsyncGenerator<Event, void, undefined> {
    const cancelled = new Promise<"cancelled">((resolve) => {
      if (this.ctx.signal.aborted) resolve("cancelled");
      this.ctx.signal.addEventListener("abort", () => resolve("cancelled"), { once: true });
    });
    for (;;) {
      const wait = this.ctx.room?.(this.ctx.signal);
      if (wait !== undefined) await wait;
      const next = await Promise.race([this.next(), cancelled]);
      if (next === "cancelled" || next === undefined) return;
      this.pendingNext = undefined;
      const msg = next.msg;
      if (FILTERED.has(msg.type)) continue;
      if (msg.type === "exec_command_begin" || msg.type === "exec_command_end") {
        this.ctx.emit({ ...msg, conversation_path: this.pathTo(msg.conversation_path) });
        continue;
      }
      if (msg.type === "exec_approval_request" || msg.type === "apply_patch_approval_request") {
        const decision = await this.askParent(msg);
        const type = msg.type === "exec_approval_request" ? "exec_approval" : "patch_approval";
        await this.child.submit({ type, id: next.id, decision }).catch(() => undefined);
        continue;
      }
      yield next;
    }
  }

  /** Stops the child: interrupts it first when `interrupt`, then shuts it down, killing it if it hangs. */
  async close(interrupt: boolean): Promise<void> {
    if (this.child.isEnded) return;
    if (interrupt) {
      await this.child.submit({ type: "interrupt" }).catch(() => undefined);
      const drained = (async () => {
        for (;;) {
          const next = await this.next();
          this.pendingNext = undefined;
          if (next === undefined || next.msg.type === "turn_aborted" || next.msg.type === "task_complete") return;
        }
      })();
      await withDeadline(this.ctx.clock, drained, CHILD_CANCEL_DRAIN_MS);
    }
    await this.child.shutdown(CHILD_SHUTDOWN_TIMEOUT_MS);
  }

  /** The path from this conversation down to the sub-agent an event comes from. */
  private pathTo(childPath: readonly string[] | undefined): string[] {
    return [this.ctx.selfId, ...(childPath ?? [this.child.conversationId])];
  }

  private next(): Promise<Event | undefined> {
    this.pendingNext ??= this.child.nextEvent();
    return this.pendingNext;
  }

  /**
   * Raises the child's request as this conversation's own, with the path down to the conversation asking, and
   * waits for this conversation's client. If this turn is cancelled meanwhile, the answer is `abort`.
   */
  private async askParent(
    msg: EventMsgOf<"exec_approval_request"> | EventMsgOf<"apply_patch_approval_request">,
  ): Promise<ReviewDecision> {
    this.ctx.emit({ ...msg, conversation_path: this.pathTo(msg.conversation_path) });
    const childGone = new AbortController();
    void this.child.ended.then(() => childGone.abort());
    const decision = await this.ctx.waitForApproval(
      this.ctx.subId,
      msg.call_id,
      AbortSignal.any([this.ctx.signal, childGone.signal]),
    );
    return this.ctx.signal.aborted ? "abort" : decision;
  }
}

/** Starts a child conversation and checks that it announces itself first, as the supervisor does for roots. */
async function startDelegate(ctx: DelegateContext, request: ChildSpawnRequest): Promise<Delegate> {
  ctx.signal.throwIfAborted();
  const child = await ctx.supervisor.spawnChild({ ...request, overrides: { ...ctx.inherit, ...request.overrides } });
  const first = await child.nextEvent();
  if (first === undefined) {
    const end = await child.ended;
    throw end.ok ? new SessionConfiguredNotFirstEventError(undefined) : end.error;
  }
  if (!isSessionConfiguredFirst(first)) {
    child.terminate();
    throw new SessionConfiguredNotFirstEventError(first);
  }
  const delegate = new Delegate(child, ctx);
  if (ctx.signal.aborted) {
    await delegate.close(false);
    ctx.signal.throwIfAborted();
  }
  return delegate;
}

export type OneShotResult = { conversationId: string; lastAgentMessage: string | null; aborted: boolean };

/**
 * A one-shot sub-agent: the input is submitted once, events are forwarded to `onEvent`, and after the child's
 * `task_complete` or `turn_aborted` it is shut down. Cancelling the parent's turn interrupts it.
 */
export async function runOneShot(
  ctx: DelegateContext,
  request: ChildSpawnRequest,
  input: readonly UserInput[],
  onEvent: (event: Event) => void = () => undefined,
): Promise<OneShotResult> {
  const delegate = await startDelegate(ctx, request);
  const { conversationId } = delegate.child;
  let finished = false;
  try {
    await delegate.child.submit({ type: "user_input", items: [...input] });
    for await (const event of delegate.events()) {
      onEvent(event);
      if (event.msg.type === "task_complete") {
        finished = true;
        return { conversationId, lastAgentMessage: event.msg.last_agent_message, aborted: false };
      }
      if (event.msg.type === "turn_aborted") {
        finished = true;
        return { conversationId, lastAgentMessage: null, aborted: true };
      }
    }
    ctx.signal.throwIfAborted();
    const end = await delegate.child.ended;
    throw end.ok ? new Error(`sub-agent ${conversationId} ended before finishing its turn`) : end.error;
  } finally {
    await delegate.close(!finished);
  }
}
