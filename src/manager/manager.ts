// ConversationManager (Codex's conversation_manager), as a supervisor: every conversation runs in its own
// worker task, watched by its own XState machine. The API mirrors Codex's; `list()`, `onStateChange()` and
// `pendingApprovals()` make the supervision observable. Sub-agents are conversations too: the manager spawns
// them when a conversation asks, wires parent and child worker to worker, and stops descendants with their
// ancestors.
import { MessageChannel, type MessagePort, type TransferListItem } from "node:worker_threads";
import { type Actor, createActor } from "xstate";
import type { Piscina } from "piscina";
import { conversationMachine, conversationState, type ConversationState } from "../../machines/conversation.machine.js";
import type { ChildSpawnRequest, FromWorker, ToWorker } from "../channel/index.js";
import { DEFAULT_MAX_SUBAGENT_DEPTH, DEFAULT_MAX_SUBAGENTS, type ConversationConfig } from "../config.js";
import {
  CapacityError,
  ConversationInUseError,
  ConversationNotFoundError,
  LlmxError,
  SessionConfiguredNotFirstEventError,
  SubagentDepthError,
  SubagentLimitError,
  serializeError,
} from "../errors.js";
import type { EventMsgOf, InitialHistory, SessionSource } from "../protocol/index.js";
import { readRolloutHistory } from "../rollout/reader.js";
import { rolloutPathFor } from "../rollout/paths.js";
import { truncateBeforeNthUserMessage } from "../rollout/truncate.js";
import type { ConversationTask } from "../session/worker-task.js";
import type { SessionInit } from "../session/session.js";
import { type Clock, type IdSource, createIdSource, systemClock } from "../util/clock.js";
import { ChildLifecycle } from "./child-lifecycle.js";
import { Conversation, type ConversationEnd, type OpenApproval } from "./conversation.js";
import { createPool, type PoolOptions } from "./pool.js";

export type ConversationManagerOptions = Partial<Omit<PoolOptions, "maxThreads" | "conversationsPerThread">> & {
  /** Live conversations (sub-agents included) allowed at once; past it spawning fails with CapacityError (default 64). */
  maxConversations?: number;
  /** Dense mode: conversations per worker thread (default 1: one thread each). */
  conversationsPerThread?: number;
  /** The source recorded in every session this manager starts (Codex: cli, exec, vscode, mcp). */
  source?: SessionSource;
  clock?: Clock;
  ids?: IdSource;
};

export type NewConversation = {
  conversationId: string;
  conversation: Conversation;
  sessionConfigured: EventMsgOf<"session_configured">;
};

export type ConversationInfo = {
  conversationId: string;
  state: ConversationState;
  parentId: string | undefined;
  depth: number;
  rolloutPath: string;
  cause: Error | undefined;
};

export type StateChange = {
  conversationId: string;
  state: ConversationState;
  previous: ConversationState | undefined;
  cause: Error | undefined;
};

/**
 * An approval request waiting for a client, wherever in the tree it was raised. Answer it on `conversationId`
 * with `{type: "exec_approval" | "patch_approval", id: eventId, decision}`; `path` runs from that conversation
 * down to the sub-agent that asked.
 */
export type PendingApproval = OpenApproval & { conversationId: string };

/** A worker under supervision, whether its client is a caller of the manager or a parent conversation. */
type Lifecycle = {
  readonly conversationId: string;
  readonly ready: Promise<void>;
  readonly ended: Promise<ConversationEnd>;
  readonly isEnded: boolean;
  readonly threadId: number | undefined;
  sendControl(message: ToWorker, transfer?: readonly TransferListItem[]): void;
  shutdown(options?: { timeoutMs?: number }): Promise<ConversationEnd>;
  terminate(): void;
};

type Supervised = {
  conversationId: string;
  actor: Actor<typeof conversationMachine>;
  lifecycle: Lifecycle;
  config: ConversationConfig;
  parentId: string | undefined;
  depth: number;
  rolloutPath: string;
  children: Set<string>;
};

/** How many ended sub-agents `list()` keeps showing (their rollouts stay on disk regardless). */
const MAX_ENDED_SUBAGENT_RECORDS = 256;

export class ConversationManager {
  private readonly pool: Piscina;
  private readonly capacity: number;
  private readonly clock: Clock;
  private readonly ids: IdSource;
  private readonly source: SessionSource;
  /** Conversations reachable by id (Codex's map). */
  private readonly conversations = new Map<string, Conversation>();
  /** Every conversation under supervision, including failed ones until they are removed. */
  private readonly supervised = new Map<string, Supervised>();
  /** Every worker still running, whether or not its conversation is still in the map. */
  private readonly running = new Set<Lifecycle>();
  private readonly listeners = new Set<(change: StateChange) => void>();
  private closed = false;

  constructor(options: ConversationManagerOptions = {}) {
    const perThread = Math.max(1, options.conversationsPerThread ?? 1);
    this.capacity = Math.max(1, options.maxConversations ?? 64);
    this.pool = createPool({
      ...options,
      maxThreads: Math.ceil(this.capacity / perThread),
      conversationsPerThread: perThread,
    });
    this.clock = options.clock ?? systemClock;
    this.ids = options.ids ?? createIdSource(this.clock);
    this.source = options.source ?? "cli";
  }

  async newConversation(config: ConversationConfig): Promise<NewConversation> {
    return this.spawn(config, { type: "new" });
  }

  getConversation(conversationId: string): Conversation {
    const conversation = this.conversations.get(conversationId);
    if (conversation === undefined) throw new ConversationNotFoundError(conversationId);
    return conversation;
  }

  /** Drops the conversation from the manager and returns it; like Codex, it does not shut it down. */
  removeConversation(conversationId: string): Conversation | undefined {
    const conversation = this.conversations.get(conversationId);
    this.conversations.delete(conversationId);
    const supervised = this.supervised.get(conversationId);
    if (supervised && supervised.parentId === undefined) {
      supervised.actor.send({ type: "remove" });
      this.supervised.delete(conversationId);
      for (const entry of this.supervised.values()) {
        if (entry.parentId === conversationId && entry.lifecycle.isEnded) {
          this.forgetTree(entry);
        }
      }
    }
    return conversation;
  }

  async resumeConversationFromRollout(config: ConversationConfig, rolloutPath: string): Promise<NewConversation> {
    const history = await readRolloutHistory(rolloutPath, { home: config.home });
    return this.spawn(config, {
      type: "resumed",
      conversationId: history.conversationId,
      history: history.items,
      rolloutPath,
    });
  }

  async resumeConversationWithHistory(config: ConversationConfig, history: InitialHistory): Promise<NewConversation> {
    return this.spawn(config, history);
  }

  /** A new conversation holding the history of `rolloutPath` before its nth (0-based) user message. */
  async forkConversation(nthUserMessage: number, config: ConversationConfig, rolloutPath: string): Promise<NewConversation> {
    const history = await readRolloutHistory(rolloutPath, { home: config.home });
    return this.spawn(config, truncateBeforeNthUserMessage(history.items, nthUserMessage));
  }

  /** Every supervised conversation, sub-agents included (their `parentId` makes the tree). */
  list(): ConversationInfo[] {
    return [...this.supervised.values()].map((entry) => ({
      conversationId: entry.conversationId,
      state: conversationState(entry.actor.getSnapshot().value),
      parentId: entry.parentId,
      depth: entry.depth,
      rolloutPath: entry.rolloutPath,
      cause: entry.actor.getSnapshot().context.cause,
    }));
  }

  /**
   * Every approval request in the tree still waiting for an answer. A sub-agent's request reaches the client
   * of the conversation at the top of its tree, so that is where it is listed, with the path down to it.
   */
  pendingApprovals(): PendingApproval[] {
    return [...this.conversations.values()].flatMap((conversation) =>
      conversation.openApprovals.map((request) => ({ conversationId: conversation.conversationId, ...request })),
    );
  }

  /**
   * Hard-stops the worker of any supervised conversation, sub-agents included (for one that hangs or misbehaves).
   * Its machine goes to `failed` with reason `killed`; a sub-agent's parent sees it fail.
   */
  terminate(conversationId: string): void {
    const entry = this.supervised.get(conversationId);
    if (entry === undefined) throw new ConversationNotFoundError(conversationId);
    entry.lifecycle.terminate();
  }

  /** Every state change of every supervised conversation. Returns the unsubscribe function. */
  onStateChange(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get liveConversations(): number {
    return this.running.size;
  }

  /** Shuts every conversation down (killing those that do not finish in time), then the pool. */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closed = true;
    await Promise.all([...this.running].map((lifecycle) => lifecycle.shutdown(options)));
    await this.pool.destroy();
  }

  private async spawn(config: ConversationConfig, initialHistory: InitialHistory): Promise<NewConversation> {
    this.checkCapacity();
    const { conversationId, rolloutPath } = this.identify(config, initialHistory);
    // Removed conversations may still be running: a second session would be a second writer of the file.
    if ([...this.running].some((lifecycle) => lifecycle.conversationId === conversationId)) {
      throw new ConversationInUseError(conversationId);
    }

    const init: SessionInit = { conversationId, rolloutPath, config, initialHistory, source: this.source };
    const { port1, port2 } = new MessageChannel();
    const payload: ConversationTask = { port: port2, init };
    const task = this.pool.run(payload, { transferList: [port2] });
    // The worker may ask for a sub-agent as soon as it runs; its supervision entry is filled in just below.
    const owner: { entry?: Supervised } = {};
    const conversation = new Conversation({
      conversationId,
      rolloutPath,
      port: port1,
      task,
      kill: () => this.killWorker(conversation),
      onControl: (message) => owner.entry && this.onControl(owner.entry, message),
    });
    const supervised = this.supervise(conversation, { config, rolloutPath, parentId: undefined, depth: 0 });
    owner.entry = supervised;

    // Finalize, as Codex does: the first event must be session_configured with the initial id "". A
    // conversation that fails here is never registered, and its thread is released.
    let first;
    try {
      first = await conversation.nextEvent();
      // A worker that died before announcing itself fails with its own cause, not as a protocol violation.
      const end = conversation.isEnded ? await conversation.ended : undefined;
      if (end && !end.ok) throw end.error;
    } catch (error) {
      this.supervised.delete(conversationId);
      throw error;
    }
    if (first.id !== "" || first.msg.type !== "session_configured") {
      const error = new SessionConfiguredNotFirstEventError(first);
      supervised.actor.send({ type: "session.firstEventInvalid", error });
      this.supervised.delete(conversationId);
      conversation.terminate();
      throw error;
    }
    supervised.actor.send({ type: "session.configured" });
    this.conversations.set(conversationId, conversation);
    return { conversationId, conversation, sessionConfigured: first.msg };
  }

  /** Starts a sub-agent for `parent`: its client port goes to the parent's worker, its supervision port stays here. */
  private spawnChild(parent: Supervised, request: ChildSpawnRequest): { conversationId: string; rolloutPath: string; port: MessagePort } {
    const root = this.rootOf(parent);
    const maxDepth = root.config.maxSubagentDepth ?? DEFAULT_MAX_SUBAGENT_DEPTH;
    const maxSubagents = root.config.maxSubagents ?? DEFAULT_MAX_SUBAGENTS;
    const depth = parent.depth + 1;
    if (depth > maxDepth) throw new SubagentDepthError(maxDepth);
    const liveSubagents = [...this.supervised.values()].filter(
      (entry) => entry.depth > 0 && !entry.lifecycle.isEnded && this.rootOf(entry) === root,
    ).length;
    if (liveSubagents >= maxSubagents) throw new SubagentLimitError(maxSubagents);
    this.checkCapacity();

    const config: ConversationConfig = { ...parent.config, ...request.overrides };
    const initialHistory = request.initialHistory ?? { type: "new" };
    const { conversationId, rolloutPath } = this.identify(config, initialHistory);
    const client = new MessageChannel();
    const supervision = new MessageChannel();
    const init: SessionInit = {
      conversationId,
      rolloutPath,
      config,
      initialHistory,
      source: request.source,
      parentId: parent.conversationId,
      depth,
    };
    const payload: ConversationTask = { port: client.port2, supervisorPort: supervision.port2, init };
    const task = this.pool.run(payload, { transferList: [client.port2, supervision.port2] });
    const owner: { entry?: Supervised } = {};
    const lifecycle: ChildLifecycle = new ChildLifecycle({
      conversationId,
      rolloutPath,
      port: supervision.port1,
      task,
      kill: () => this.killWorker(lifecycle),
      onControl: (message) => owner.entry && this.onControl(owner.entry, message),
    });
    owner.entry = this.supervise(lifecycle, { config, rolloutPath, parentId: parent.conversationId, depth });
    parent.children.add(conversationId);
    void lifecycle.ended.then((end) => {
      parent.children.delete(conversationId);
      this.pruneEndedSubagents();
      if (!parent.lifecycle.isEnded) {
        parent.lifecycle.sendControl({
          type: "llmx/child-ended",
          conversationId,
          ...(end.ok ? {} : { error: serializeError(end.error) }),
        });
      }
    });
    return { conversationId, rolloutPath, port: client.port1 };
  }

  private onControl(owner: Supervised, message: FromWorker): void {
    switch (message.type) {
      case "llmx/configured":
        owner.actor.send({ type: "session.configured" });
        break;
      case "llmx/spawn-child": {
        const { requestId } = message;
        try {
          if (this.closed) throw new LlmxError("the conversation manager is shut down");
          const child = this.spawnChild(owner, message.request);
          owner.lifecycle.sendControl({ type: "llmx/child-spawned", requestId, ...child }, [child.port]);
        } catch (error) {
          owner.lifecycle.sendControl({ type: "llmx/child-spawn-failed", requestId, error: serializeError(error) });
        }
        break;
      }
      case "llmx/stop-child":
        if (owner.children.has(message.conversationId)) {
          this.supervised.get(message.conversationId)?.lifecycle.terminate();
        }
        break;
      default:
        break;
    }
  }

  /**
   * Hard-stops a worker by ending its thread: piscina cannot share a thread between tasks that can be aborted,
   * so the thread, not the task, is what gets stopped (in dense mode its other conversations go with it).
   */
  private killWorker(lifecycle: Lifecycle): void {
    const stop = (): void => {
      const thread = this.pool.threads.find((worker) => worker.threadId === lifecycle.threadId);
      void thread?.terminate();
    };
    if (lifecycle.threadId !== undefined) stop();
    else void lifecycle.ready.then(stop);
  }

  /** Drops a finished sub-agent tree from supervision (its records only; everything in it has ended). */
  private forgetTree(entry: Supervised): void {
    this.supervised.delete(entry.conversationId);
    for (const other of [...this.supervised.values()]) {
      if (other.parentId === entry.conversationId) this.forgetTree(other);
    }
  }

  /** Keeps the records of ended sub-agents bounded: the oldest go first. */
  private pruneEndedSubagents(): void {
    const ended = [...this.supervised.values()].filter((entry) => entry.depth > 0 && entry.lifecycle.isEnded);
    for (const entry of ended.slice(0, Math.max(0, ended.length - MAX_ENDED_SUBAGENT_RECORDS))) {
      this.supervised.delete(entry.conversationId);
    }
  }

  private checkCapacity(): void {
    if (this.closed) throw new LlmxError("the conversation manager is shut down");
    if (this.running.size >= this.capacity) throw new CapacityError(this.capacity);
  }

  private rootOf(entry: Supervised): Supervised {
    let current = entry;
    while (current.parentId !== undefined) {
      const parent = this.supervised.get(current.parentId);
      if (parent === undefined) break;
      current = parent;
    }
    return current;
  }

  private identify(config: ConversationConfig, history: InitialHistory): { conversationId: string; rolloutPath: string } {
    if (history.type === "resumed") return { conversationId: history.conversationId, rolloutPath: history.rolloutPath };
    const conversationId = this.ids.conversationId();
    return { conversationId, rolloutPath: rolloutPathFor(config.home, conversationId, this.clock.now()) };
  }

  private supervise(
    lifecycle: Lifecycle,
    where: { config: ConversationConfig; rolloutPath: string; parentId: string | undefined; depth: number },
  ): Supervised {
    const { conversationId } = lifecycle;
    this.running.add(lifecycle);
    const actor = createActor(conversationMachine, {
      input: { conversationId, rolloutPath: where.rolloutPath, parentId: where.parentId, worker: lifecycle },
    });
    let previous: ConversationState | undefined;
    actor.subscribe((snapshot) => {
      const state = conversationState(snapshot.value);
      if (state === previous) return;
      const change: StateChange = { conversationId, state, previous, cause: snapshot.context.cause };
      previous = state;
      for (const listener of this.listeners) listener(change);
    });
    actor.start();
    const supervised: Supervised = { conversationId, actor, lifecycle, ...where, children: new Set() };
    void lifecycle.ended.then(() => {
      this.running.delete(lifecycle);
      // Stopping a conversation stops everything it delegated to.
      for (const childId of supervised.children) void this.supervised.get(childId)?.lifecycle.shutdown({ timeoutMs: 2_000 });
    });
    this.supervised.set(conversationId, supervised);
    return supervised;
  }
}
