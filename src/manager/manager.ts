// ConversationManager (Codex's conversation_manager), as a supervisor: every conversation runs in its own
// worker, under its own XState machine that starts, watches, restarts and stops it (machines/). The API mirrors
// Codex's; `list()`, `onStateChange()` and `pendingApprovals()` make the supervision observable. Sub-agents are
// conversations too: the manager starts them when a conversation asks, wires parent and child worker to worker,
// and stops descendants before their ancestors.
import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { type Actor, createActor, waitFor } from "xstate";
import {
  conversationMachine,
  conversationState,
  type ChildSpec,
  type ConversationMachineEvent,
  type ConversationState,
  type ExitReason,
  type RestartBackoff,
  type RestartIntensity,
  type WorkerHandle,
  type WorkerHost,
} from "../../machines/conversation.machine.js";
import { DEFAULT_EVENT_WINDOW, type ChildSpawnRequest, type FromWorker } from "../channel/index.js";
import {
  DEFAULT_MAX_SUBAGENT_DEPTH,
  DEFAULT_MAX_SUBAGENTS,
  validateConversationConfig,
  type ConversationConfig,
} from "../config.js";
import {
  CapacityError,
  ConversationInUseError,
  ConversationNotFoundError,
  InternalAgentDiedError,
  InvalidConfigError,
  InvalidOpError,
  LlmxError,
  RolloutError,
  SessionConfiguredNotFirstEventError,
  SubagentDepthError,
  SubagentLimitError,
  UnknownConversationIdError,
  errorChain,
  serializeError,
} from "../errors.js";
import type { EventMsgOf, InitialHistory, SessionSource } from "../protocol/index.js";
import { releaseOwnRolloutLock } from "../rollout/lock.js";
import { findRolloutPathById } from "../rollout/list.js";
import { readRolloutHistory } from "../rollout/reader.js";
import { rolloutPathFor } from "../rollout/paths.js";
import { truncateBeforeNthUserMessage } from "../rollout/truncate.js";
import type { SessionInit } from "../session/session.js";
import { type Clock, type IdSource, createIdSource, systemClock, withDeadline } from "../util/clock.js";
import { STARTS_PER_CORE, StartGate } from "./admission.js";
import { Conversation, type ConversationEnd, type OpenApproval } from "./conversation.js";
import { WorkerThreads, type PoolOptions } from "./pool.js";
import { ConversationWatch } from "./watch.js";
import { WorkerLink } from "./worker-link.js";

export type ConversationManagerOptions = Partial<Omit<PoolOptions, "maxThreads" | "conversationsPerThread">> & {
  /**
   * Live top-level conversations allowed at once; past it spawning fails with CapacityError (default 64). Their
   * sub-agents do not count: they have limits of their own (`maxSubagents`, and each tree's config).
   */
  maxConversations?: number;
  /** Live sub-agents allowed at once across every tree (default: `maxConversations`, at least 8). */
  maxSubagents?: number;
  /** Ended sub-agents whose records `list()` keeps (default 256); those that ended first are dropped first. */
  endedSubagentRecords?: number;
  /**
   * Worker starts allowed to run at once (default: 2 per core). Past it, new conversations and restarts wait
   * their turn in order; the wait does not count against the start timeout.
   */
  maxConcurrentStarts?: number;
  /** Dense mode: conversations per worker thread (default 1: one thread each). */
  conversationsPerThread?: number;
  /** The source recorded in every session this manager starts (Codex: cli, exec, vscode, mcp). */
  source?: SessionSource;
  /** More restarts than `maxRestarts` within `periodMs` and a conversation fails instead (default 3 in 60 s). */
  restartIntensity?: RestartIntensity;
  /** Wait before a restart: `initialMs`, doubling with each recent restart, at most `maxMs` (default 100 ms..5 s). */
  restartBackoff?: RestartBackoff;
  /** A worker whose event loop does not answer the heartbeat for this long is killed as hung (default 30 s). */
  hangTimeoutMs?: number;
  /**
   * How long a new worker gets to start running (its thread started, its modules loaded), which is not yet its
   * event loop's to answer for, before it is killed as hung (default 30 s, or the hang timeout if longer).
   */
  startTimeoutMs?: number;
  /**
   * Events a conversation's worker may send before its readers consume them (default 256): the bound of what
   * the supervisor buffers per conversation and of each reader's backlog. While it waits for credit the worker
   * coalesces output deltas and holds the turn back (DESIGN.md, flow control).
   */
  eventWindow?: number;
  /** Drives every supervision timer and timestamp; tests pass a ManualClock. */
  clock?: Clock;
  ids?: IdSource;
};

export const DEFAULT_RESTART_INTENSITY: RestartIntensity = { maxRestarts: 3, periodMs: 60_000 };
export const DEFAULT_RESTART_BACKOFF: RestartBackoff = { initialMs: 100, maxMs: 5_000 };
export const DEFAULT_HANG_TIMEOUT_MS = 30_000;
export const DEFAULT_START_TIMEOUT_MS = 30_000;
/** How long a conversation gets to shut down before it is killed, unless its config or the caller says otherwise. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
/** How long a sub-agent left behind by its parent's worker gets to shut down. */
export const ORPHAN_SHUTDOWN_TIMEOUT_MS = 2_000;
/** How many ended sub-agents `list()` keeps showing (their rollouts stay on disk regardless). */
const MAX_ENDED_SUBAGENT_RECORDS = 256;

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
  /** Why it failed, or why it last crashed. */
  cause: Error | undefined;
  restarts: number;
  lastExit: ExitReason | undefined;
  /** The worker thread running it now (several conversations share one in dense mode). */
  threadId: number | undefined;
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

type Supervised = {
  conversationId: string;
  actor: Actor<typeof conversationMachine>;
  config: ConversationConfig;
  parentId: string | undefined;
  depth: number;
  rolloutPath: string;
  children: Set<string>;
  /** A top-level conversation's handle. */
  conversation: Conversation | undefined;
  /** The worker running the conversation now. */
  link: WorkerLink | undefined;
  /** Open read-only watches of a sub-agent's events. */
  watchers: Set<ConversationWatch>;
};

export class ConversationManager {
  private readonly threads: WorkerThreads;
  private readonly capacity: number;
  private readonly subagentCapacity: number;
  private readonly endedSubagentRecords: number;
  private readonly starts: StartGate;
  private readonly clock: Clock;
  private readonly ids: IdSource;
  private readonly source: SessionSource;
  private readonly intensity: RestartIntensity;
  private readonly backoff: RestartBackoff;
  private readonly hangTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly eventWindow: number;
  /** Conversations reachable by id (Codex's map). */
  private readonly conversations = new Map<string, Conversation>();
  /** Every conversation under supervision, including ended ones until they are removed. */
  private readonly supervised = new Map<string, Supervised>();
  /**
   * Every worker still running, whether or not its conversation is still supervised (one writer per rollout), and
   * the conversation it was started for.
   */
  private readonly running = new Map<WorkerLink, Supervised>();
  /**
   * Supervised conversations whose machines have not ended, and ended sub-agents' records (oldest first). Starts
   * count the first, so their cost follows what is alive, not every conversation the host has had.
   */
  private readonly live = new Set<Supervised>();
  private readonly endedSubagents = new Set<Supervised>();
  private readonly listeners = new Set<(change: StateChange) => void>();
  private closed = false;
  /** Spare threads being started. */
  private warming = false;

  constructor(options: ConversationManagerOptions = {}) {
    this.eventWindow = options.eventWindow ?? DEFAULT_EVENT_WINDOW;
    if (!Number.isSafeInteger(this.eventWindow) || this.eventWindow < 1) {
      throw new InvalidConfigError(`eventWindow must be a positive integer, got ${String(options.eventWindow)}`);
    }
    const perThread = Math.max(1, options.conversationsPerThread ?? 1);
    this.capacity = Math.max(1, options.maxConversations ?? 64);
    this.subagentCapacity = Math.max(0, options.maxSubagents ?? Math.max(DEFAULT_MAX_SUBAGENTS, this.capacity));
    this.endedSubagentRecords = Math.max(0, options.endedSubagentRecords ?? MAX_ENDED_SUBAGENT_RECORDS);
    this.threads = new WorkerThreads({
      ...options,
      maxThreads: Math.ceil((this.capacity + this.subagentCapacity) / perThread),
      conversationsPerThread: perThread,
    });
    this.starts = new StartGate(Math.max(1, options.maxConcurrentStarts ?? STARTS_PER_CORE * availableParallelism()));
    this.clock = options.clock ?? systemClock;
    this.ids = options.ids ?? createIdSource(this.clock);
    this.source = options.source ?? "cli";
    this.intensity = options.restartIntensity ?? DEFAULT_RESTART_INTENSITY;
    this.backoff = options.restartBackoff ?? DEFAULT_RESTART_BACKOFF;
    this.hangTimeoutMs = options.hangTimeoutMs ?? DEFAULT_HANG_TIMEOUT_MS;
    this.startTimeoutMs = options.startTimeoutMs ?? Math.max(DEFAULT_START_TIMEOUT_MS, this.hangTimeoutMs);
  }

  async newConversation(config: ConversationConfig): Promise<NewConversation> {
    return this.spawn(config, { type: "new" });
  }

  getConversation(conversationId: string): Conversation {
    const conversation = this.conversations.get(conversationId);
    if (conversation === undefined) throw new ConversationNotFoundError(conversationId);
    return conversation;
  }

  /**
   * A read-only subscription to a sub-agent's events by its id (see `list()` for the tree): every event it
   * sends its parent from now on, until it ends or the watch is closed. Its `submit` rejects with
   * ReadOnlyConversationError. A top-level conversation's events are read from its handle (`getConversation`).
   */
  watch(conversationId: string): ConversationWatch {
    const entry = this.supervised.get(conversationId);
    if (entry === undefined || this.isFinal(entry)) throw new ConversationNotFoundError(conversationId);
    if (entry.parentId === undefined) {
      throw new InvalidOpError(`conversation ${conversationId} is a top-level conversation: read its events() from getConversation()`);
    }
    const watch = new ConversationWatch(conversationId, (closed) => {
      entry.watchers.delete(closed);
      if (entry.watchers.size === 0) entry.link?.send({ type: "llmx/watch", on: false });
    });
    entry.watchers.add(watch);
    if (entry.watchers.size === 1) entry.link?.send({ type: "llmx/watch", on: true });
    return watch;
  }

  /** Drops the conversation from the manager and returns it; like Codex, it does not shut it down. */
  removeConversation(conversationId: string): Conversation | undefined {
    const conversation = this.conversations.get(conversationId);
    this.conversations.delete(conversationId);
    const entry = this.supervised.get(conversationId);
    if (entry && entry.parentId === undefined) {
      // Unsupervised from now on: the handle still ends when its worker does.
      const link = entry.link;
      this.tell(entry, { type: "remove" });
      if (link && conversation) {
        void link.ended.then((end) => conversation.finish(end.ok ? { ok: true } : { ok: false, error: end.error }));
      }
      this.supervised.delete(conversationId);
      for (const other of [...this.supervised.values()]) {
        if (other.parentId === conversationId && this.isFinal(other)) this.forgetTree(other);
      }
    }
    return conversation;
  }

  async resumeConversationFromRollout(config: ConversationConfig, rolloutPath: string): Promise<NewConversation> {
    checkConfig(config);
    const history = await readRolloutHistory(rolloutPath, { home: config.home });
    return this.spawn(config, {
      type: "resumed",
      conversationId: history.conversationId,
      history: history.items,
      rolloutPath,
    });
  }

  /**
   * Resumes the recorded conversation with this id: its rollout is looked up under `config.home`'s sessions
   * (UnknownConversationIdError when there is none), then resumed as `resumeConversationFromRollout` does.
   */
  async resumeConversationById(conversationId: string, config: ConversationConfig): Promise<NewConversation> {
    checkConfig(config);
    const rolloutPath = await findRolloutPathById(config.home, conversationId);
    if (rolloutPath === undefined) throw new UnknownConversationIdError(conversationId, config.home);
    return this.resumeConversationFromRollout(config, rolloutPath);
  }

  async resumeConversationWithHistory(config: ConversationConfig, history: InitialHistory): Promise<NewConversation> {
    return this.spawn(config, history);
  }

  /**
   * A new conversation holding the history of `rolloutPath` before its nth (0-based) user message (an n past
   * the last one starts a brand-new conversation), or all of it when `nthUserMessage` is undefined.
   */
  async forkConversation(nthUserMessage: number | undefined, config: ConversationConfig, rolloutPath: string): Promise<NewConversation> {
    checkConfig(config);
    const history = await readRolloutHistory(rolloutPath, { home: config.home });
    if (nthUserMessage === undefined) return this.spawn(config, { type: "forked", items: history.items });
    return this.spawn(config, truncateBeforeNthUserMessage(history.items, nthUserMessage));
  }

  /** Every supervised conversation, sub-agents included (their `parentId` makes the tree). */
  list(): ConversationInfo[] {
    return [...this.supervised.values()].map((entry) => {
      const snapshot = entry.actor.getSnapshot();
      return {
        conversationId: entry.conversationId,
        state: conversationState(snapshot.value),
        parentId: entry.parentId,
        depth: entry.depth,
        rolloutPath: entry.rolloutPath,
        cause: snapshot.context.cause,
        restarts: snapshot.context.restarts,
        lastExit: snapshot.context.lastExit,
        threadId: entry.link?.threadId,
      };
    });
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
   * Its machine goes to `failed` with reason `killed` and it is not restarted; in dense mode, the conversations
   * sharing its thread are restarted by their own specs.
   */
  terminate(conversationId: string): void {
    const entry = this.supervised.get(conversationId);
    if (entry === undefined) throw new ConversationNotFoundError(conversationId);
    this.tell(entry, { type: "terminate" });
  }

  /** Every state change of every supervised conversation. Returns the unsubscribe function. */
  onStateChange(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Conversations holding a slot: supervised and not ended, plus removed ones whose worker still runs. */
  get liveConversations(): number {
    return this.countLive({ subagents: true });
  }

  /**
   * Shuts every conversation down, sub-agents before their parents, each once; whatever has not finished within
   * `timeoutMs` is killed. Then the worker pool.
   */
  shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    this.shuttingDown ??= this.shutdownAll(options);
    return this.shuttingDown;
  }

  /** `await using manager = new ConversationManager()` shuts it down (default timeout) at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  private shuttingDown: Promise<void> | undefined;

  private async shutdownAll(options: { timeoutMs?: number }): Promise<void> {
    this.closed = true;
    const timeoutMs = options.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    const roots = [...this.supervised.values()].filter((entry) => entry.parentId === undefined);
    const supervisedLinks = new Set([...this.supervised.values()].map((entry) => entry.link));
    const unsupervised = [...this.running.keys()].filter((link) => !supervisedLinks.has(link));
    for (const link of unsupervised) link.stop();
    const stopped = Promise.all([
      ...roots.map((root) => this.stopTree(root, timeoutMs)),
      ...unsupervised.map((link) => link.ended),
    ]);
    if ((await withDeadline(this.clock, stopped, timeoutMs)) === undefined) {
      for (const entry of this.supervised.values()) this.tell(entry, { type: "terminate" });
      for (const link of unsupervised) link.kill("killed");
    }
    await this.threads.destroy();
  }

  /** Stops a conversation's sub-agents (leaves first), then the conversation itself. */
  private async stopTree(entry: Supervised, timeoutMs: number): Promise<void> {
    const children = [...entry.children].flatMap((id) => this.supervised.get(id) ?? []);
    await Promise.all(children.map((child) => this.stopTree(child, timeoutMs)));
    this.tell(entry, { type: "stop", timeoutMs });
    await waitFor(entry.actor, (snapshot) => snapshot.status === "done");
  }

  private async spawn(config: ConversationConfig, initialHistory: InitialHistory): Promise<NewConversation> {
    checkConfig(config);
    this.checkCapacity();
    const { conversationId, rolloutPath } = this.identify(config, initialHistory);
    this.checkNotRunning(conversationId);
    const conversation = new Conversation({
      conversationId,
      rolloutPath,
      eventWindow: this.eventWindow,
      shutdown: (timeoutMs) => this.stopConversation(conversationId, timeoutMs),
      terminate: () => this.terminate(conversationId),
      turnContext: {
        cwd: config.cwd,
        approval_policy: config.approvalPolicy,
        sandbox_policy: config.sandboxPolicy,
        model: config.model,
        ...(config.reasoningEffort !== undefined ? { effort: config.reasoningEffort } : {}),
        summary: config.reasoningSummary,
      },
    });
    const entry = this.supervise({
      conversationId,
      rolloutPath,
      config,
      parentId: undefined,
      depth: 0,
      conversation,
      spec: { restart: config.restart ?? "transient", shutdown: config.shutdown ?? DEFAULT_SHUTDOWN_TIMEOUT_MS },
      initialHistory,
      source: this.source,
    });
    // Like Codex: the first event must be session_configured with the initial id "". A conversation that fails
    // before that is never registered, and its thread is released. Until it is configured it is never restarted,
    // so the link that got it there is its first.
    const snapshot = await waitFor(entry.actor, (s) => s.matches({ running: "active" }) || s.status === "done");
    const sessionConfigured = snapshot.status === "done" ? undefined : await entry.link?.configured;
    if (sessionConfigured === undefined) {
      this.supervised.delete(conversationId);
      // The caller's configuration, found wrong by the session (its cwd), is the caller's error, not a crash.
      if (snapshot.context.cause) throw configErrorIn(snapshot.context.cause) ?? snapshot.context.cause;
      if (snapshot.context.stopRequested || snapshot.context.terminated) {
        throw new InternalAgentDiedError(`conversation ${conversationId} was stopped before it started`);
      }
      throw new SessionConfiguredNotFirstEventError(undefined);
    }
    this.conversations.set(conversationId, conversation);
    return { conversationId, conversation, sessionConfigured };
  }

  /** Starts a sub-agent for `parent`: its client port goes to the parent's worker, its supervision stays here. */
  private spawnChild(parent: Supervised, request: ChildSpawnRequest): { conversationId: string; rolloutPath: string; port: MessagePort } {
    const root = this.rootOf(parent);
    const maxDepth = root.config.maxSubagentDepth ?? DEFAULT_MAX_SUBAGENT_DEPTH;
    const maxSubagents = root.config.maxSubagents ?? DEFAULT_MAX_SUBAGENTS;
    const depth = parent.depth + 1;
    if (depth > maxDepth) throw new SubagentDepthError(maxDepth);
    let liveSubagents = 0;
    let allSubagents = 0;
    for (const entry of this.live) {
      if (entry.depth === 0) continue;
      allSubagents++;
      if (this.rootOf(entry) === root) liveSubagents++;
    }
    if (liveSubagents >= maxSubagents) throw new SubagentLimitError(maxSubagents);
    if (this.closed) throw new LlmxError("the conversation manager is shut down");
    if (allSubagents >= this.subagentCapacity) throw new SubagentLimitError(this.subagentCapacity);

    const config: ConversationConfig = { ...parent.config, ...request.overrides };
    const initialHistory = request.initialHistory ?? { type: "new" };
    const { conversationId, rolloutPath } = this.identify(config, initialHistory);
    const source: SessionSource =
      request.kind === "thread_spawn"
        ? { subagent: { thread_spawn: { parent_thread_id: parent.conversationId, depth } } }
        : { subagent: request.kind };
    // The parent gets its end of the channel now; the child's worker takes the other end when its start is admitted.
    const client = new MessageChannel();
    this.supervise({
      conversationId,
      rolloutPath,
      config,
      parentId: parent.conversationId,
      depth,
      conversation: undefined,
      client,
      // Temporary unless its parent says otherwise; a restarted sub-agent is wired to its parent's worker again.
      spec: { restart: parent.config.subagentRestart ?? "temporary", shutdown: config.shutdown ?? ORPHAN_SHUTDOWN_TIMEOUT_MS },
      initialHistory,
      source,
    });
    parent.children.add(conversationId);
    return { conversationId, rolloutPath, port: client.port1 };
  }

  private onControl(owner: Supervised, message: FromWorker): void {
    switch (message.type) {
      case "llmx/spawn-child": {
        const { requestId } = message;
        const parentLink = owner.link;
        try {
          if (this.closed) throw new LlmxError("the conversation manager is shut down");
          const child = this.spawnChild(owner, message.request);
          const port = child.port;
          parentLink?.send(
            { type: "llmx/child-spawned", requestId, conversationId: child.conversationId, rolloutPath: child.rolloutPath, port },
            [port],
          );
        } catch (error) {
          parentLink?.send({ type: "llmx/child-spawn-failed", requestId, error: serializeError(error) });
        }
        break;
      }
      case "llmx/watched-event":
        for (const watch of owner.watchers) watch.deliver(message.event);
        break;
      case "llmx/stop-child":
        if (owner.children.has(message.conversationId)) this.tell(this.supervised.get(message.conversationId), { type: "terminate" });
        break;
      default:
        break;
    }
  }

  private async stopConversation(conversationId: string, timeoutMs: number | undefined): Promise<ConversationEnd> {
    const entry = this.supervised.get(conversationId);
    const conversation = entry?.conversation ?? this.conversations.get(conversationId);
    if (entry === undefined) {
      // Removed from supervision: stop its worker directly.
      const link = [...this.running.keys()].find((l) => l.conversationId === conversationId);
      link?.stop();
      const end = link && (await withDeadline(this.clock, link.ended, timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS));
      if (link && end === undefined) link.kill("killed");
      return conversation ? conversation.ended : { ok: true };
    }
    await this.stopTree(entry, timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
    return conversation ? conversation.ended : { ok: true };
  }

  private supervise(where: {
    conversationId: string;
    rolloutPath: string;
    config: ConversationConfig;
    parentId: string | undefined;
    depth: number;
    conversation: Conversation | undefined;
    /** A sub-agent's client channel for its first worker (its parent already holds `port1`). */
    client?: MessageChannel;
    spec: ChildSpec;
    initialHistory: InitialHistory;
    source: SessionSource;
  }): Supervised {
    const { conversationId, rolloutPath, config, conversation } = where;
    const entry: Supervised = {
      conversationId,
      rolloutPath,
      config,
      parentId: where.parentId,
      depth: where.depth,
      children: new Set(),
      conversation,
      link: undefined,
      watchers: new Set(),
      actor: undefined as unknown as Actor<typeof conversationMachine>,
    };
    const startLink = (initialHistory: InitialHistory, clientChannel?: MessageChannel): WorkerLink => {
      const init: SessionInit = { conversationId, rolloutPath, config, initialHistory, source: where.source };
      if (where.parentId !== undefined) {
        init.parentId = where.parentId;
        init.depth = where.depth;
      }
      const link = new WorkerLink({
        conversationId,
        init,
        threads: this.threads,
        clock: this.clock,
        ...(conversation ? { sink: conversation } : {}),
        ...(clientChannel ? { clientChannel } : {}),
        onControl: (message) => this.onControl(entry, message),
        eventWindow: this.eventWindow,
      });
      entry.link = link;
      this.running.set(link, entry);
      if (entry.watchers.size > 0) link.send({ type: "llmx/watch", on: true });
      conversation?.attach({
        submit: (submission) => link.send({ type: "llmx/submission", submission }),
        stop: () => link.stop(),
        credit: (count) => link.send({ type: "llmx/event-credit", count }),
        keepAlive: (on) => link.keepAlive(on),
      });
      // A sub-agent works for its parent's turn, which keeps the process alive while it runs.
      if (where.parentId !== undefined) link.keepAlive(false);
      void link.ended.then(() => {
        this.running.delete(link);
        // A worker's sub-agents were wired to it: they stop with it.
        for (const childId of entry.children) {
          this.tell(this.supervised.get(childId), { type: "stop", timeoutMs: ORPHAN_SHUTDOWN_TIMEOUT_MS });
        }
      });
      return link;
    };
    // Every start waits its turn at the gate and holds its slot until the session is configured or the worker ends.
    const admitted = async (signal: AbortSignal, start: () => WorkerLink): Promise<WorkerLink> => {
      const release = await this.starts.acquire(signal);
      // Stopped or terminated while it waited: nothing would ever stop a worker started now.
      if (signal.aborted || entry.actor.getSnapshot().status === "done") {
        release();
        throw new LlmxError(`conversation ${conversationId} ended before it started`);
      }
      let link: WorkerLink;
      try {
        link = start();
      } catch (error) {
        release();
        throw error;
      }
      const done = (): void => {
        release();
        this.keepSpares();
      };
      void link.configured.then(done, done);
      void link.ended.then(done);
      return link;
    };
    const host: WorkerHost = {
      start: async (incarnation, signal) => {
        if (incarnation === 0) return admitted(signal, () => startLink(where.initialHistory, where.client));
        // A restart resumes the conversation from its own rollout: same id, same file.
        const history = await readRolloutHistory(rolloutPath, { home: config.home });
        const link = await admitted(signal, () => startLink({ type: "resumed", conversationId, history: history.items, rolloutPath }));
        const parent = where.parentId === undefined ? undefined : this.supervised.get(where.parentId);
        if (parent && link.childPort) {
          // The parent's worker talks to the new incarnation from now on.
          const { lastExit, restarts } = entry.actor.getSnapshot().context;
          parent.link?.send(
            { type: "llmx/child-restarted", conversationId, port: link.childPort, reason: lastExit ?? "threw", restarts },
            [link.childPort],
          );
        }
        return link;
      },
      isPermanentFailure,
    };
    const actor = createActor(conversationMachine, {
      clock: this.clock,
      input: {
        conversationId,
        host,
        spec: where.spec,
        intensity: this.intensity,
        backoff: this.backoff,
        hangTimeoutMs: this.hangTimeoutMs,
        startTimeoutMs: this.startTimeoutMs,
        now: () => this.clock.now().getTime(),
      },
    });
    entry.actor = actor;
    let previous: ConversationState | undefined;
    actor.subscribe((snapshot) => {
      if (snapshot.status === "done" && this.live.delete(entry)) {
        if (entry.depth > 0 && this.isRecord(entry)) this.endedSubagents.add(entry);
      }
      const state = conversationState(snapshot.value);
      if (state === previous) return;
      const change: StateChange = { conversationId, state, previous, cause: snapshot.context.cause };
      previous = state;
      this.onTransition(entry, change, snapshot.context);
      for (const listener of this.listeners) listener(change);
    });
    // A resumed sub-agent takes the place of its ended record.
    const replaced = this.supervised.get(conversationId);
    if (replaced !== undefined) this.endedSubagents.delete(replaced);
    this.supervised.set(conversationId, entry);
    this.live.add(entry);
    actor.start();
    return entry;
  }

  /** What a state change means for the conversation's client: its handle, or its parent's worker. */
  private onTransition(
    entry: Supervised,
    change: StateChange,
    { lastExit, restarts, worker }: { lastExit: ExitReason | undefined; restarts: number; worker: WorkerHandle | undefined },
  ): void {
    const { conversation, link } = entry;
    if (change.state === "restarting" && conversation && change.cause && lastExit) {
      conversation.restarting(change.cause, lastExit, restarts);
    }
    if (change.state !== "removed" && change.state !== "failed") return;
    for (const watch of entry.watchers) watch.end();
    entry.watchers.clear();
    const end: ConversationEnd = change.state === "failed" && change.cause ? { ok: false, error: change.cause } : { ok: true };
    // A worker the machine never took (it was stopped while spawning) has nobody else to end it.
    const unclaimed = link !== undefined && !link.isEnded && worker !== link;
    if (unclaimed) link.kill("killed");
    // A removed conversation's worker may run on (Codex's remove does not stop it); its handle ends with it.
    const runsOn = change.state === "removed" && !unclaimed && link !== undefined && !link.isEnded;
    if (conversation && !runsOn) conversation.finish(end);
    // A worker that died cannot release its rollout's lock itself; another process may take the session now.
    if (link && (link.isEnded || unclaimed)) {
      void link.ended.then(() => releaseOwnRolloutLock(entry.rolloutPath)).catch(() => undefined);
    }
    const parent = entry.parentId === undefined ? undefined : this.supervised.get(entry.parentId);
    if (parent) {
      parent.children.delete(entry.conversationId);
      parent.link?.send({
        type: "llmx/child-ended",
        conversationId: entry.conversationId,
        ...(end.ok ? {} : { error: serializeError(end.error) }),
      });
      this.pruneEndedSubagents();
    }
  }

  /** Drops a finished sub-agent tree from supervision (its records only; everything in it has ended). */
  private forgetTree(entry: Supervised): void {
    if (this.isRecord(entry)) this.supervised.delete(entry.conversationId);
    this.endedSubagents.delete(entry);
    for (const other of [...this.supervised.values()]) {
      if (other.parentId === entry.conversationId) this.forgetTree(other);
    }
  }

  /** Keeps the records of ended sub-agents bounded: those that ended first go first. */
  private pruneEndedSubagents(): void {
    for (const entry of this.endedSubagents) {
      if (this.endedSubagents.size <= this.endedSubagentRecords) return;
      this.endedSubagents.delete(entry);
      if (this.isRecord(entry)) this.supervised.delete(entry.conversationId);
    }
  }

  /** Whether `entry` is the record its id names (a conversation resumed under the same id replaces it). */
  private isRecord(entry: Supervised): boolean {
    return this.supervised.get(entry.conversationId) === entry;
  }

  /** Sends an event to a conversation's machine; one that has ended has nothing left to do with it. */
  private tell(entry: Supervised | undefined, event: ConversationMachineEvent): void {
    if (entry !== undefined && !this.isFinal(entry)) entry.actor.send(event);
  }

  private isFinal(entry: Supervised): boolean {
    return entry.actor.getSnapshot().status === "done";
  }

  /**
   * Tops spare threads up with start slots nobody is waiting for: a spare is never made ahead of a conversation
   * waiting to start. Runs when a start completes; a spare that idles out (the pool's idle timeout) is made again
   * at the next start.
   */
  private keepSpares(): void {
    if (this.closed || this.warming) return;
    const releases: (() => void)[] = [];
    for (let i = 0; i < this.threads.spareDeficit; i++) {
      const release = this.starts.tryAcquire();
      if (release === undefined) break;
      releases.push(release);
    }
    if (releases.length === 0) return;
    this.warming = true;
    const idleBefore = this.threads.idleThreads;
    void this.threads.addSpares(releases.length).then(() => {
      this.warming = false;
      for (const release of releases) release();
      // Again only if that made spares: a pool that cannot start threads is not asked forever.
      if (this.threads.idleThreads > idleBefore) this.keepSpares();
    });
  }

  /** Top-level conversations holding a slot; a removed one holds its slot while its worker runs. */
  private checkCapacity(): void {
    if (this.closed) throw new LlmxError("the conversation manager is shut down");
    if (this.countLive({ subagents: false }) >= this.capacity) throw new CapacityError(this.capacity);
  }

  /**
   * Supervised conversations that have not ended, plus workers still running for no such conversation (a
   * removed one's, or an ended one's on its way out). Every start counts them: this walks what is alive only.
   */
  private countLive({ subagents }: { subagents: boolean }): number {
    let live = 0;
    for (const entry of this.live) if (subagents || entry.depth === 0) live++;
    for (const [link, entry] of this.running) {
      // A sub-agent's worker has a client port for its parent.
      if (!subagents && link.childPort !== undefined) continue;
      if (entry.link !== link || !this.live.has(entry)) live++;
    }
    return live;
  }

  /** Removed conversations may still be running: a second session would be a second writer of the file. */
  private checkNotRunning(conversationId: string): void {
    const live = this.supervised.get(conversationId);
    if (live && !this.isFinal(live)) throw new ConversationInUseError(conversationId);
    for (const link of this.running.keys()) {
      if (link.conversationId === conversationId) throw new ConversationInUseError(conversationId);
    }
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
}

function configErrorIn(error: Error): InvalidConfigError | undefined {
  return [...errorChain(error)].find((cause): cause is InvalidConfigError => cause instanceof InvalidConfigError);
}

/** Failures a restart would only repeat: the rollout itself, the configuration, another writer, a bad session. */
function isPermanentFailure(error: Error): boolean {
  return [...errorChain(error)].some(
    (cause) =>
      cause instanceof RolloutError ||
      cause instanceof InvalidConfigError ||
      cause instanceof ConversationInUseError ||
      cause instanceof SessionConfiguredNotFirstEventError,
  );
}

/**
 * Validates a config where it enters the manager. That its cwd is an existing directory is checked by the
 * session as it starts (session.ts), where a synchronous `stat` costs the supervisor nothing; the same
 * InvalidConfigError reaches the caller from there.
 */
function checkConfig(config: ConversationConfig): void {
  validateConversationConfig(config);
}
