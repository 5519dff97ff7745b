// Codex's codex_delegate across threads: a conversation starts a child conversation (its own worker, its own
// rollout) and talks to it over their own channel. The child's legacy deltas and session_configured are
// filtered out; its approval requests are raised by this conversation to its own client (which may itself be
// a parent) and the decision is relayed down; cancelling this conversation's turn cancels the child.
import type { ChildOverrides, ChildSpawnRequest } from "../channel/messages.js";
import { DelegateClosedError, SessionConfiguredNotFirstEventError } from "../errors.js";
import type { Event, EventMsg, EventMsgOf, Op, ReviewDecision, UserInput } from "../protocol/index.js";
import type { PendingApprovals } from "../session/approvals.js";
import type { ChildConversation, SupervisorLink } from "../session/worker-task.js";

export type DelegateContext = {
  /** This (the parent) conversation's id, and how deep it is among sub-agents (0 for a root). */
  selfId: string;
  depth: number;
  /** The parent's turn that delegates: its events and approval requests carry this id. */
  subId: string;
  supervisor: SupervisorLink;
  approvals: PendingApprovals;
  /** Emits an event to the parent's client under `subId`. */
  emit(msg: EventMsg): void;
  /** The parent turn's cancellation. */
  signal: AbortSignal;
  /**
   * The parent's current turn settings (cwd, approval and sandbox policy, model): a child works under the
   * same rules its parent works under now, not the ones the parent was started with.
   */
  inherit: ChildOverrides;
};

/** How long a cancelled child gets to report turn_aborted before it is shut down. */
const CANCEL_DRAIN_MS = 500;
const SHUTDOWN_TIMEOUT_MS = 2_000;

const FILTERED: ReadonlySet<string> = new Set(["agent_message_delta", "agent_reasoning_delta", "session_configured"]);

/** An interactive sub-agent: ops in, (filtered) events out. */
export class Delegate {
  private pendingNext: Promise<Event | undefined> | undefined;

  constructor(
    private readonly child: ChildConversation,
    private readonly ctx: DelegateContext,
  ) {}

  get conversationId(): string {
    return this.child.conversationId;
  }

  get rolloutPath(): string {
    return this.child.rolloutPath;
  }

  submit(op: Op): Promise<string> {
    return this.child.submit(op);
  }

  /** The child's events, filtered, until it ends or the parent's turn is cancelled. */
  async *events(): AsyncGenerator<Event, void, undefined> {
    const cancelled = new Promise<"cancelled">((resolve) => {
      if (this.ctx.signal.aborted) resolve("cancelled");
      this.ctx.signal.addEventListener("abort", () => resolve("cancelled"), { once: true });
    });
    for (;;) {
      const next = await Promise.race([this.next(), cancelled]);
      if (next === "cancelled" || next === undefined) return;
      this.pendingNext = undefined;
      const msg = next.msg;
      if (FILTERED.has(msg.type)) continue;
      if (msg.type === "exec_approval_request") {
        const decision = await this.askParent(msg);
        await this.child.submit({ type: "exec_approval", id: next.id, decision }).catch(() => undefined);
        continue;
      }
      if (msg.type === "apply_patch_approval_request") {
        const decision = await this.askParent(msg);
        await this.child.submit({ type: "patch_approval", id: next.id, decision }).catch(() => undefined);
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
      const deadline = new Promise<"late">((resolve) => setTimeout(resolve, CANCEL_DRAIN_MS, "late").unref());
      for (;;) {
        const next = await Promise.race([this.next(), deadline]);
        if (next === "late" || next === undefined) break;
        this.pendingNext = undefined;
        if (next.msg.type === "turn_aborted" || next.msg.type === "task_complete") break;
      }
    }
    await this.child.shutdown({ timeoutMs: SHUTDOWN_TIMEOUT_MS });
  }

  /** The child's end: why its stream stopped. */
  get ended() {
    return this.child.ended;
  }

  private next(): Promise<Event | undefined> {
    this.pendingNext ??= this.child.nextEvent().catch(() => undefined);
    return this.pendingNext;
  }

  /**
   * Raises the child's request as this conversation's own, with the path down to the conversation asking, and
   * waits for this conversation's client. If this turn is cancelled meanwhile, the answer is `abort`.
   */
  private async askParent(
    msg: EventMsgOf<"exec_approval_request"> | EventMsgOf<"apply_patch_approval_request">,
  ): Promise<ReviewDecision> {
    const path = [this.ctx.selfId, ...(msg.conversation_path ?? [this.child.conversationId])];
    this.ctx.emit({ ...msg, conversation_path: path });
    const childGone = new AbortController();
    void this.child.ended.then(() => childGone.abort());
    const decision = await this.ctx.approvals.wait(
      this.ctx.subId,
      msg.call_id,
      AbortSignal.any([this.ctx.signal, childGone.signal]),
    );
    return this.ctx.signal.aborted ? "abort" : decision;
  }
}

/** Starts a child conversation and checks that it announces itself first, as the manager does for roots. */
export async function startDelegate(ctx: DelegateContext, request: ChildSpawnRequest): Promise<Delegate> {
  ctx.signal.throwIfAborted();
  const child = await ctx.supervisor.spawnChild({ ...request, overrides: { ...ctx.inherit, ...request.overrides } });
  const first = await child.nextEvent();
  if (first.id !== "" || first.msg.type !== "session_configured") {
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
  const handle = new OneShotDelegate(delegate);
  let finished = false;
  try {
    await delegate.submit({ type: "user_input", items: [...input] });
    for await (const event of handle.events()) {
      onEvent(event);
      if (event.msg.type === "task_complete") {
        finished = true;
        return { conversationId: handle.conversationId, lastAgentMessage: event.msg.last_agent_message, aborted: false };
      }
      if (event.msg.type === "turn_aborted") {
        finished = true;
        return { conversationId: handle.conversationId, lastAgentMessage: null, aborted: true };
      }
    }
    ctx.signal.throwIfAborted();
    const end = await delegate.ended;
    throw end.ok ? new Error(`sub-agent ${handle.conversationId} ended before finishing its turn`) : end.error;
  } finally {
    await delegate.close(!finished);
  }
}

/** The handle of a one-shot sub-agent: events only; submitting fails with DelegateClosedError. */
export class OneShotDelegate {
  constructor(private readonly delegate: Delegate) {}

  get conversationId(): string {
    return this.delegate.conversationId;
  }

  events(): AsyncGenerator<Event, void, undefined> {
    return this.delegate.events();
  }

  submit(_op: Op): Promise<string> {
    return Promise.reject(new DelegateClosedError(this.delegate.conversationId));
  }
}
