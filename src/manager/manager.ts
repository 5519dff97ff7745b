// ConversationManager (Codex's conversation_manager), as a supervisor: every conversation runs in its own
// worker task, watched by its own XState machine. The API mirrors Codex's; `list()` and `onStateChange()`
// make the supervision observable.
import { MessageChannel } from "node:worker_threads";
import { type Actor, createActor, fromCallback } from "xstate";
import type { Piscina } from "piscina";
import {
  conversationMachine,
  conversationState,
  type ConversationMachineEvent,
  type ConversationState,
  type WorkerActorInput,
} from "../../machines/conversation.machine.js";
import type { ConversationConfig } from "../config.js";
import {
  CapacityError,
  ConversationInUseError,
  ConversationNotFoundError,
  LlmxError,
  SessionConfiguredNotFirstEventError,
} from "../errors.js";
import type { EventMsgOf, InitialHistory, SessionSource } from "../protocol/index.js";
import { readRolloutHistory } from "../rollout/reader.js";
import { rolloutPathFor } from "../rollout/paths.js";
import { truncateBeforeNthUserMessage } from "../rollout/truncate.js";
import type { ConversationTask } from "../session/worker-task.js";
import type { SessionInit } from "../session/session.js";
import { type Clock, type IdSource, createIdSource, systemClock } from "../util/clock.js";
import { Conversation } from "./conversation.js";
import { createPool, type PoolOptions } from "./pool.js";

export type ConversationManagerOptions = Partial<Omit<PoolOptions, "maxThreads" | "conversationsPerThread">> & {
  /** Live conversations allowed at once; past it newConversation fails with CapacityError (default 64). */
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
  rolloutPath: string;
  cause: Error | undefined;
};

export type StateChange = {
  conversationId: string;
  state: ConversationState;
  previous: ConversationState | undefined;
  cause: Error | undefined;
};

type Supervised = {
  actor: Actor<typeof conversationMachine>;
  conversation: Conversation;
  info(): ConversationInfo;
};

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
  /** Every conversation whose worker is still running, whether or not it is still in the map. */
  private readonly running = new Set<Conversation>();
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
    if (supervised) {
      supervised.actor.send({ type: "remove" });
      this.supervised.delete(conversationId);
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

  list(): ConversationInfo[] {
    return [...this.supervised.values()].map((entry) => entry.info());
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
    await Promise.all([...this.running].map((conversation) => conversation.shutdown(options)));
    await this.pool.destroy();
  }

  private async spawn(config: ConversationConfig, initialHistory: InitialHistory): Promise<NewConversation> {
    if (this.closed) throw new LlmxError("the conversation manager is shut down");
    if (this.running.size >= this.capacity) throw new CapacityError(this.capacity);
    const { conversationId, rolloutPath } = this.identify(config, initialHistory);
    if (this.supervised.get(conversationId)?.conversation.isEnded === false) {
      throw new ConversationInUseError(conversationId);
    }

    const init: SessionInit = { conversationId, rolloutPath, config, initialHistory, source: this.source };
    const { port1, port2 } = new MessageChannel();
    const abort = new AbortController();
    const payload: ConversationTask = { port: port2, init };
    const task = this.pool.run(payload, { transferList: [port2], signal: abort.signal });
    const conversation = new Conversation({ conversationId, rolloutPath, port: port1, task, kill: () => abort.abort() });
    this.running.add(conversation);
    void conversation.ended.then(() => this.running.delete(conversation));

    const supervised = this.supervise(conversation, rolloutPath);
    this.supervised.set(conversationId, supervised);

    // Finalize, as Codex does: the first event must be session_configured with the initial id "". A
    // conversation that fails here is never registered, and its thread is released.
    let first;
    try {
      first = await conversation.nextEvent();
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

  private identify(config: ConversationConfig, history: InitialHistory): { conversationId: string; rolloutPath: string } {
    if (history.type === "resumed") return { conversationId: history.conversationId, rolloutPath: history.rolloutPath };
    const conversationId = this.ids.conversationId();
    return { conversationId, rolloutPath: rolloutPathFor(config.home, conversationId, this.clock.now()) };
  }

  private supervise(conversation: Conversation, rolloutPath: string, parentId?: string): Supervised {
    const worker = fromCallback<ConversationMachineEvent, WorkerActorInput>(({ sendBack }) => {
      let watching = true;
      void conversation.ready.then(() => watching && sendBack({ type: "worker.ready" }));
      void conversation.ended.then((end) => {
        if (!watching) return;
        sendBack(end.ok ? { type: "worker.exited" } : { type: "worker.failed", error: end.error });
      });
      return () => {
        watching = false;
      };
    });
    const actor = createActor(conversationMachine.provide({ actors: { worker } }), {
      input: { conversationId: conversation.conversationId, rolloutPath, parentId },
    });
    let previous: ConversationState | undefined;
    actor.subscribe((snapshot) => {
      const state = conversationState(snapshot.value);
      if (state === previous) return;
      const change: StateChange = { conversationId: conversation.conversationId, state, previous, cause: snapshot.context.cause };
      previous = state;
      for (const listener of this.listeners) listener(change);
    });
    actor.start();
    return {
      actor,
      conversation,
      info: () => {
        const snapshot = actor.getSnapshot();
        return {
          conversationId: conversation.conversationId,
          state: conversationState(snapshot.value),
          parentId,
          rolloutPath,
          cause: snapshot.context.cause,
        };
      },
    };
  }
}
