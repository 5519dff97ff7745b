// The app-server's protocol engine: one JSON-RPC dispatcher per connected client over one shared
// ConversationManager. It knows nothing of transports (any `Connection` will do). Threads are llmx
// conversations; a client is subscribed to the threads it started, resumed or forked, and gets their events
// as Codex v2 notifications; approval requests reach every subscriber as server requests, the first answer
// decides, and every one of them is told with `serverRequest/resolved`.
//
// Overload: a client may have MAX_REQUESTS_IN_FLIGHT requests not yet answered (Codex bounds its incoming queue
// at 128); past it a request is answered -32001 "Server overloaded; retry later.". A client that does not read
// (its connection's outgoing queue is full) is disconnected: dropping messages would leave it with a stream that
// silently lies, and the threads it watched keep running for other clients.
import { stat } from "node:fs/promises";
import { ZodError, type z } from "zod";
import {
  AppServerRequestError,
  ConversationInUseError,
  ConversationNotFoundError,
  InvalidConfigError,
  LlmxError,
  WorkerCrashedError,
  createIdSource,
  systemClock,
  type Clock,
  type ConfigOverrides,
  type Conversation,
  type ConversationConfig,
  type ConversationManager,
  type Event,
  type IdSource,
  type Op,
  type ReviewDecision,
  type StateChange,
  type UserInput,
} from "../index.js";
import { CLI_VERSION } from "../version.js";
import type { Connection } from "./connection.js";
import {
  INTERNAL_ERROR,
  INVALID_REQUEST,
  OVERLOADED,
  OVERLOADED_MESSAGE,
  errorText,
  invalidParams,
  notificationText,
  parseIncoming,
  responseText,
  serverRequestText,
  type RequestId,
} from "./jsonrpc.js";
import { ThreadEventMapper, type ApprovalRequest, type Notification, type Output } from "./mapping.js";
import {
  AnyParams,
  ApprovalResponse,
  InitializeParams,
  ReviewStartParams,
  ThreadForkParams,
  ThreadIdParams,
  ThreadListParams,
  ThreadReadParams,
  ThreadResumeParams,
  ThreadSetNameParams,
  ThreadStartParams,
  TurnInterruptParams,
  TurnStartParams,
  TurnSteerParams,
  type ThreadSettingsParams,
  type UserInputV2,
} from "./params.js";
import * as store from "./store.js";
import { supervisionTree, type SupervisionTokens } from "./supervision.js";
import {
  sandboxPolicyFromV2,
  settingsResponse,
  threadObject,
  turnsFromRollout,
  unixSeconds,
  type ThreadFacts,
  type ThreadStatus,
  type V2Thread,
  type V2Turn,
} from "./threads.js";

/** Requests of one client not yet answered (Codex bounds its incoming queue at 128). */
export const MAX_REQUESTS_IN_FLIGHT = 128;
/** How long thread/archive waits for a live thread to shut down (Codex: 10 s). */
export const ARCHIVE_SHUTDOWN_TIMEOUT_MS = 10_000;
/** How long turn/interrupt waits for the turn to end before answering anyway. */
export const INTERRUPT_ANSWER_TIMEOUT_MS = 10_000;
const DEFAULT_LIST_LIMIT = 25;

export type AppServerOptions = {
  manager: ConversationManager;
  /** The llmx home: config.toml, sessions/, archived_sessions/. */
  home: string;
  /** Resolves a conversation's config (config.toml plus the request's overrides). */
  loadConfig: (overrides: ConfigOverrides) => Promise<ConversationConfig>;
  clock?: Clock;
  ids?: IdSource;
  /** Diagnostics (never the protocol stream). */
  log?: (line: string) => void;
};

type Respond = (result: unknown) => void;
type Handler = (client: Client, params: unknown, respond: Respond) => Promise<void>;

type OpenApproval = { request: ApprovalRequest; sentTo: Map<Client, number> };

type LoadedThread = {
  id: string;
  conversation: Conversation;
  config: ConversationConfig;
  facts: ThreadFacts;
  mapper: ThreadEventMapper;
  subscribers: Set<Client>;
  /** turn/interrupt requests waiting for their turn to end. */
  interrupts: { turnId: string; respond: Respond }[];
  approvals: Map<string, OpenApproval>;
  tokens: SupervisionTokens | null;
};

class Client {
  initialized = false;
  inFlight = 0;
  closed = false;
  nextRequestId = 0;
  readonly outstanding = new Map<number, { thread: LoadedThread; key: string }>();
  constructor(readonly connection: Connection) {}
}

/** Methods clients call to discover features llmx does not have: answered with empty data, as Codex would. */
const EMPTY_ANSWERS: Readonly<Record<string, unknown>> = {
  "skills/list": { data: [] },
  "hooks/list": { data: [] },
  "plugin/list": { marketplaces: [] },
  "plugin/installed": { marketplaces: [] },
  "app/list": { data: [], nextCursor: null },
  "app/installed": { apps: [] },
  "mcpServerStatus/list": { data: [], nextCursor: null },
  "experimentalFeature/list": { data: [], nextCursor: null },
  "permissionProfile/list": { data: [] },
  "threadSection/list": { data: [] },
  "externalAgentConfig/detect": { items: [] },
  "thread/goal/get": {},
};

export class AppServer {
  private readonly manager: ConversationManager;
  private readonly home: string;
  private readonly loadConfig: (overrides: ConfigOverrides) => Promise<ConversationConfig>;
  private readonly clock: Clock;
  private readonly ids: IdSource;
  private readonly log: (line: string) => void;
  private readonly clients = new Set<Client>();
  private readonly threads = new Map<string, LoadedThread>();
  /** Names given with thread/name/set to threads not loaded (kept for this process's life). */
  private readonly names = new Map<string, string>();
  /** When this host first saw each conversation, sub-agents included (unix seconds). */
  private readonly firstSeen = new Map<string, number>();
  private readonly handlers: Record<string, Handler>;
  private readonly stopWatching: () => void;
  private closing = false;

  constructor(options: AppServerOptions) {
    this.manager = options.manager;
    this.home = options.home;
    this.loadConfig = options.loadConfig;
    this.clock = options.clock ?? systemClock;
    this.ids = options.ids ?? createIdSource(this.clock);
    this.log = options.log ?? (() => {});
    this.handlers = this.createHandlers();
    this.stopWatching = this.manager.onStateChange((change) => this.onStateChange(change));
  }

  /** Serves one client until its connection closes. */
  connect(connection: Connection): void {
    const client = new Client(connection);
    this.clients.add(client);
    connection.onMessage((text) => {
      try {
        this.onMessage(client, text);
      } catch (error) {
        this.log(`app-server: ${connection.label}: ${describe(error)}`);
      }
    });
    connection.onClose(() => this.disconnect(client));
  }

  /** Closes every connection and shuts every conversation down. */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.stopWatching();
    for (const client of [...this.clients]) client.connection.close();
    await this.manager.shutdown(options);
  }

  // ---- incoming ------------------------------------------------------------------------------------------

  private onMessage(client: Client, text: string): void {
    if (client.closed) return;
    const message = parseIncoming(text);
    switch (message.kind) {
      case "invalid":
        this.send(client, errorText(message.id, message.error.rpcCode, message.error.message));
        return;
      case "notification":
        // `initialized` completes the handshake; Codex ignores other client notifications.
        return;
      case "response":
        this.onAnswer(client, message.id, message.result);
        return;
      case "error":
        if (message.id !== null) this.onAnswer(client, message.id, undefined);
        return;
      case "request":
        this.onRequest(client, message.id, message.method, message.params);
        return;
    }
  }

  private onRequest(client: Client, id: RequestId, method: string, params: unknown): void {
    if (method === "initialize") {
      if (client.initialized) return this.fail(client, id, new AppServerRequestError(INVALID_REQUEST, "Already initialized"));
      const parsed = InitializeParams.safeParse(params);
      if (!parsed.success) return this.fail(client, id, invalidParams(parsed.error));
      client.initialized = true;
      const info = parsed.data.clientInfo;
      this.send(
        client,
        responseText(id, {
          userAgent: `${info.name}/${CLI_VERSION} (llmx; ${process.platform} ${process.arch}) (${info.name}; ${info.version})`,
          codexHome: this.home,
          platformFamily: process.platform === "win32" ? "windows" : "unix",
          platformOs: process.platform === "darwin" ? "macos" : process.platform,
        }),
      );
      return;
    }
    if (!client.initialized) return this.fail(client, id, new AppServerRequestError(INVALID_REQUEST, "Not initialized"));
    const handler = this.handlers[method];
    if (handler === undefined) {
      if (method in EMPTY_ANSWERS) return void this.send(client, responseText(id, EMPTY_ANSWERS[method]));
      const known = ["initialize", ...Object.keys(this.handlers), ...Object.keys(EMPTY_ANSWERS)].map((name) => `\`${name}\``);
      return this.fail(
        client,
        id,
        new AppServerRequestError(INVALID_REQUEST, `Invalid request: unknown variant \`${method}\`, expected one of ${known.join(", ")}`),
      );
    }
    if (client.inFlight >= MAX_REQUESTS_IN_FLIGHT) return this.fail(client, id, new AppServerRequestError(OVERLOADED, OVERLOADED_MESSAGE));
    // In progress until answered: a turn/interrupt waiting for its turn to end counts.
    client.inFlight++;
    let answered = false;
    const respond: Respond = (result) => {
      if (answered) return;
      answered = true;
      client.inFlight--;
      this.send(client, responseText(id, result));
    };
    handler(client, params, respond).catch((error: unknown) => {
      if (answered) return this.log(`app-server: ${method} failed after answering: ${describe(error)}`);
      answered = true;
      client.inFlight--;
      this.fail(client, id, error);
    });
  }

  private fail(client: Client, id: RequestId | null, error: unknown): void {
    this.send(client, errorText(id, rpcCode(error), describe(error)));
  }

  // ---- outgoing ------------------------------------------------------------------------------------------

  private send(client: Client, text: string): boolean {
    if (client.closed) return false;
    if (client.connection.send(text)) return true;
    this.log(`app-server: ${client.connection.label} is not reading (outgoing queue full); disconnecting it`);
    client.connection.close();
    this.disconnect(client);
    return false;
  }

  private notify(client: Client, notification: Notification): void {
    this.send(client, notificationText(notification.method, notification.params, this.clock.now().getTime()));
  }

  private broadcast(notification: Notification): void {
    for (const client of this.clients) if (client.initialized) this.notify(client, notification);
  }

  private disconnect(client: Client): void {
    if (client.closed) return;
    client.closed = true;
    this.clients.delete(client);
    for (const thread of this.threads.values()) {
      thread.subscribers.delete(client);
      for (const open of thread.approvals.values()) open.sentTo.delete(client);
    }
  }

  // ---- threads -------------------------------------------------------------------------------------------

  private loaded(threadId: string): LoadedThread {
    const thread = this.threads.get(threadId);
    if (thread === undefined) throw threadNotFound(threadId);
    return thread;
  }

  private async configFor(params: ThreadSettingsParams, recorded?: { cwd: string }): Promise<ConversationConfig> {
    const overrides: ConfigOverrides = { home: this.home, rawOverrides: tomlOverrides(params.config) };
    const cwd = params.cwd ?? recorded?.cwd;
    if (cwd) overrides.cwd = cwd;
    if (params.model) overrides.model = params.model;
    if (params.modelProvider) overrides.provider = params.modelProvider;
    if (params.approvalPolicy) overrides.approvalPolicy = params.approvalPolicy;
    if (params.sandbox) overrides.sandboxMode = params.sandbox;
    const config = await this.loadConfig(overrides);
    if (!(await isDirectory(config.cwd))) {
      throw new AppServerRequestError(INVALID_REQUEST, `cwd ${config.cwd} does not exist or is not a directory`);
    }
    if (params.baseInstructions) config.baseInstructions = params.baseInstructions;
    if (params.developerInstructions) config.developerInstructions = params.developerInstructions;
    return config;
  }

  private load(conversation: Conversation, config: ConversationConfig, facts: ThreadFacts): LoadedThread {
    const mapper = new ThreadEventMapper(facts.id, this.clock, (threadId, parentThreadId) =>
      this.subAgentThread(threadId, parentThreadId, config),
    );
    const thread: LoadedThread = {
      id: facts.id,
      conversation,
      config,
      facts,
      mapper,
      subscribers: new Set(),
      interrupts: [],
      approvals: new Map(),
      tokens: null,
    };
    this.threads.set(thread.id, thread);
    this.firstSeen.set(thread.id, facts.createdAt);
    void this.pump(thread);
    return thread;
  }

  /** Delivers a thread's events to its subscribers until the conversation ends; then unloads it. */
  private async pump(thread: LoadedThread): Promise<void> {
    try {
      for await (const event of thread.conversation.events()) this.dispatch(thread, event);
    } catch (error) {
      this.log(`app-server: thread ${thread.id}: ${describe(error)}`);
    }
    if (this.threads.get(thread.id) !== thread) return;
    this.threads.delete(thread.id);
    for (const { respond } of thread.interrupts.splice(0)) respond({});
    for (const client of thread.subscribers) {
      this.notify(client, { method: "thread/status/changed", params: { threadId: thread.id, status: { type: "notLoaded" } } });
      this.notify(client, { method: "thread/closed", params: { threadId: thread.id } });
    }
  }

  private dispatch(thread: LoadedThread, event: Event): void {
    if (event.msg.type === "token_count" && event.msg.info) {
      const total = event.msg.info.total_token_usage;
      thread.tokens = {
        input: total.input_tokens,
        cachedInput: total.cached_input_tokens,
        output: total.output_tokens,
        total: total.total_tokens,
      };
    }
    for (const output of thread.mapper.map(event)) this.deliver(thread, output);
  }

  private deliver(thread: LoadedThread, output: Output): void {
    switch (output.kind) {
      case "notification":
        for (const client of thread.subscribers) this.notify(client, output.notification);
        return;
      case "approval": {
        const open: OpenApproval = { request: output.request, sentTo: new Map() };
        thread.approvals.set(approvalKey(output.request), open);
        for (const client of thread.subscribers) this.ask(client, thread, open);
        return;
      }
      case "turnEnded": {
        for (const pending of thread.interrupts.filter((entry) => entry.turnId === output.turnId)) pending.respond({});
        thread.interrupts = thread.interrupts.filter((entry) => entry.turnId !== output.turnId);
        // Requests the turn took with it (interrupted, or ended by a restart) are resolved for every client.
        for (const [key, open] of thread.approvals) {
          if (open.request.turnId !== output.turnId) continue;
          thread.approvals.delete(key);
          this.resolved(thread, open);
        }
        return;
      }
    }
  }

  private ask(client: Client, thread: LoadedThread, open: OpenApproval): void {
    const id = client.nextRequestId++;
    open.sentTo.set(client, id);
    client.outstanding.set(id, { thread, key: approvalKey(open.request) });
    this.send(client, serverRequestText(id, open.request.method, open.request.params));
  }

  private resolved(thread: LoadedThread, open: OpenApproval): void {
    for (const [client, requestId] of open.sentTo) {
      client.outstanding.delete(requestId);
      if (thread.subscribers.has(client) || this.clients.has(client)) {
        this.notify(client, { method: "serverRequest/resolved", params: { threadId: open.request.threadId, requestId } });
      }
    }
    open.sentTo.clear();
  }

  /** A client answered one of our requests (`result` undefined: it answered with an error, which declines). */
  private onAnswer(client: Client, id: RequestId, result: unknown): void {
    if (typeof id !== "number") return;
    const entry = client.outstanding.get(id);
    if (entry === undefined) return;
    client.outstanding.delete(id);
    const { thread, key } = entry;
    const open = thread.approvals.get(key);
    if (open === undefined) return;
    thread.approvals.delete(key);
    const parsed = ApprovalResponse.safeParse(result);
    const decision: ReviewDecision = parsed.success ? reviewDecision(parsed.data.decision) : "denied";
    const op: Op = { type: open.request.kind === "exec" ? "exec_approval" : "patch_approval", id: open.request.eventId, decision };
    thread.conversation.submit(op).catch((error: unknown) => this.log(`app-server: approval for ${thread.id}: ${describe(error)}`));
    this.resolved(thread, open);
    for (const output of thread.mapper.approvalSettled()) this.deliver(thread, output);
  }

  private subscribe(client: Client, thread: LoadedThread): void {
    if (thread.subscribers.has(client)) return;
    thread.subscribers.add(client);
    // Requests nobody answered yet (their client left, or none was subscribed) go to the newcomer too.
    for (const open of thread.approvals.values()) this.ask(client, thread, open);
  }

  private status(thread: LoadedThread | undefined): ThreadStatus {
    return thread === undefined ? { type: "notLoaded" } : thread.mapper.status;
  }

  private threadOf(thread: LoadedThread, turns: V2Turn[] = []): V2Thread {
    return threadObject({ ...thread.facts, updatedAt: unixSeconds(this.clock.now()) }, this.status(thread), turns);
  }

  private subAgentThread(threadId: string, parentThreadId: string, config: ConversationConfig): Record<string, unknown> {
    const info = this.manager.list().find((entry) => entry.conversationId === threadId);
    const now = unixSeconds(this.clock.now());
    if (!this.firstSeen.has(threadId)) this.firstSeen.set(threadId, now);
    return threadObject(
      {
        id: threadId,
        path: info?.rolloutPath ?? null,
        cwd: config.cwd,
        model: config.model,
        modelProvider: config.modelProvider,
        preview: "",
        createdAt: this.firstSeen.get(threadId) ?? now,
        updatedAt: now,
        source: { subagent: { thread_spawn: { parent_thread_id: parentThreadId, depth: info?.depth ?? 1 } } },
        cliVersion: CLI_VERSION,
        originator: null,
        forkedFromId: null,
        parentThreadId,
        name: null,
      },
      { type: "active", activeFlags: [] },
    );
  }

  private liveFacts(conversation: Conversation, config: ConversationConfig, preview: string, forkedFromId: string | null): ThreadFacts {
    const now = unixSeconds(this.clock.now());
    return {
      id: conversation.conversationId,
      path: conversation.rolloutPath,
      cwd: config.cwd,
      model: config.model,
      modelProvider: config.modelProvider,
      preview,
      createdAt: now,
      updatedAt: now,
      source: config.source ?? "vscode",
      cliVersion: CLI_VERSION,
      originator: config.originator ?? null,
      forkedFromId,
      parentThreadId: null,
      name: this.names.get(conversation.conversationId) ?? null,
    };
  }

  private onStateChange(change: StateChange): void {
    // Start-up transitions are not news; restarts and ends are.
    const interesting = ["restarting", "stopping", "removed", "failed"].includes(change.state) || change.previous === "restarting";
    if (!interesting || this.closing) return;
    const info = this.manager.list().find((entry) => entry.conversationId === change.conversationId);
    this.broadcast({
      method: "llmx/supervision/changed",
      params: {
        threadId: change.conversationId,
        parentThreadId: info?.parentId ?? null,
        state: change.state,
        previous: change.previous ?? null,
        restarts: info?.restarts ?? 0,
        cause: change.cause === undefined ? null : change.cause.message,
      },
    });
  }

  // ---- methods -------------------------------------------------------------------------------------------

  private createHandlers(): Record<string, Handler> {
    const h: Record<string, Handler> = {
      "thread/start": async (client, raw, respond) => {
        const params = parse(ThreadStartParams, raw);
        const config = await this.configFor(params);
        const { conversation } = await this.manager.newConversation(config).catch(rethrowStartFailure);
        const thread = this.load(conversation, config, this.liveFacts(conversation, config, "", null));
        thread.subscribers.add(client);
        respond({ thread: this.threadOf(thread), ...settingsResponse(config) });
        this.broadcast({ method: "thread/started", params: { thread: this.threadOf(thread) } });
      },

      "thread/resume": async (client, raw, respond) => {
        const params = parse(ThreadResumeParams, raw);
        let thread = this.threads.get(params.threadId);
        if (thread === undefined) {
          const stored = await store.findThread(this.home, params.threadId);
          if (stored === undefined || stored.archived) throw threadNotFound(params.threadId);
          const history = await store.readThread(this.home, stored.path);
          const facts = await store.factsFromRollout(history);
          const config = await this.configFor(params, { cwd: facts.cwd });
          // Another client may have loaded it while this one read the rollout.
          thread = this.threads.get(params.threadId);
          if (thread === undefined) {
            const { conversation } = await this.manager.resumeConversationFromRollout(config, stored.path).catch(rethrowStartFailure);
            thread = this.load(conversation, config, { ...facts, model: config.model, name: this.names.get(facts.id) ?? null });
          }
        }
        this.subscribe(client, thread);
        const turns = params.excludeTurns === true ? [] : turnsFromRollout(thread.id, (await store.readThread(this.home, thread.conversation.rolloutPath)).items);
        respond({ thread: this.threadOf(thread, turns), ...settingsResponse(thread.config) });
      },

      "thread/fork": async (client, raw, respond) => {
        const params = parse(ThreadForkParams, raw);
        const source = this.threads.get(params.threadId)?.conversation.rolloutPath ?? (await store.findThread(this.home, params.threadId))?.path;
        if (source === undefined) throw threadNotFound(params.threadId);
        const history = await store.readThread(this.home, source);
        const recorded = await store.factsFromRollout(history);
        const config = await this.configFor(params, { cwd: recorded.cwd });
        const { conversation } = await this.manager
          .resumeConversationWithHistory(config, { type: "forked", items: history.items })
          .catch(rethrowStartFailure);
        const thread = this.load(conversation, config, this.liveFacts(conversation, config, recorded.preview, params.threadId));
        thread.subscribers.add(client);
        const turns = params.excludeTurns === true ? [] : turnsFromRollout(thread.id, history.items);
        respond({ thread: this.threadOf(thread, turns), ...settingsResponse(config) });
        this.broadcast({ method: "thread/started", params: { thread: this.threadOf(thread) } });
      },

      "thread/list": async (_client, raw, respond) => {
        const params = parse(ThreadListParams, raw ?? {});
        const limit = Math.max(1, params.limit ?? DEFAULT_LIST_LIMIT);
        if (params.archived === true) {
          const facts = await store.listArchived(this.home, limit);
          respond({ data: facts.map((f) => threadObject(f, { type: "notLoaded" })), nextCursor: null, backwardsCursor: null });
          return;
        }
        const page = await store
          .listStored(this.home, { limit, cursor: params.cursor ?? undefined, modelProviders: params.modelProviders ?? undefined })
          .catch((error: unknown) => {
            throw params.cursor ? new AppServerRequestError(INVALID_REQUEST, `invalid cursor: ${params.cursor}`) : error;
          });
        const data = page.threads.map((facts) => {
          const live = this.threads.get(facts.id);
          return threadObject({ ...facts, model: live?.config.model ?? facts.model, name: live?.facts.name ?? this.names.get(facts.id) ?? null }, this.status(live));
        });
        respond({ data, readStates: {}, nextCursor: page.nextCursor, backwardsCursor: null });
      },

      "thread/read": async (_client, raw, respond) => {
        const params = parse(ThreadReadParams, raw);
        const live = this.threads.get(params.threadId);
        const path = live?.conversation.rolloutPath ?? (await store.findThread(this.home, params.threadId))?.path;
        if (path === undefined) throw threadNotFound(params.threadId);
        const history = await store.readThread(this.home, path);
        const turns = params.includeTurns === true ? turnsFromRollout(params.threadId, history.items) : [];
        if (live) return respond({ thread: this.threadOf(live, turns), readState: null });
        const facts = await store.factsFromRollout(history);
        respond({ thread: threadObject({ ...facts, name: this.names.get(facts.id) ?? null }, { type: "notLoaded" }, turns), readState: null });
      },

      "thread/loaded/list": async (_client, raw, respond) => {
        parse(AnyParams, raw);
        respond({ data: [...this.threads.keys()], nextCursor: null });
      },

      "thread/unsubscribe": async (client, raw, respond) => {
        const params = parse(ThreadIdParams, raw);
        const thread = this.threads.get(params.threadId);
        if (thread === undefined) return respond({ status: "notLoaded" });
        if (!thread.subscribers.delete(client)) return respond({ status: "notSubscribed" });
        for (const [requestId, entry] of client.outstanding) {
          if (entry.thread !== thread) continue;
          client.outstanding.delete(requestId);
          thread.approvals.get(entry.key)?.sentTo.delete(client);
        }
        respond({ status: "unsubscribed" });
      },

      "thread/archive": async (_client, raw, respond) => {
        const params = parse(ThreadIdParams, raw);
        const live = this.threads.get(params.threadId);
        let path = live?.conversation.rolloutPath;
        if (live) {
          // Unloaded first (the pump then leaves the closing notice to us), shut down, then off the manager's books.
          this.threads.delete(live.id);
          await live.conversation.shutdown({ timeoutMs: ARCHIVE_SHUTDOWN_TIMEOUT_MS });
          this.manager.removeConversation(live.id);
          for (const client of live.subscribers) this.notify(client, { method: "thread/closed", params: { threadId: live.id } });
        } else {
          const stored = await store.findThread(this.home, params.threadId);
          if (stored === undefined || stored.archived) throw threadNotFound(params.threadId);
          path = stored.path;
        }
        await store.archive(this.home, path as string);
        respond({});
        this.broadcast({ method: "thread/archived", params: { threadId: params.threadId } });
      },

      "thread/unarchive": async (_client, raw, respond) => {
        const params = parse(ThreadIdParams, raw);
        const archived = await store.findArchived(this.home, params.threadId);
        if (archived === undefined) throw threadNotFound(params.threadId);
        const path = await store.unarchive(this.home, archived);
        const facts = await store.factsFromRollout(await store.readThread(this.home, path));
        respond({ thread: threadObject({ ...facts, name: this.names.get(facts.id) ?? null }, { type: "notLoaded" }) });
        this.broadcast({ method: "thread/unarchived", params: { threadId: params.threadId } });
      },

      "thread/name/set": async (_client, raw, respond) => {
        const params = parse(ThreadSetNameParams, raw);
        const live = this.threads.get(params.threadId);
        if (live) live.facts.name = params.name;
        else if ((await store.findThread(this.home, params.threadId)) === undefined) throw threadNotFound(params.threadId);
        this.names.set(params.threadId, params.name);
        respond({});
        this.broadcast({ method: "thread/name/updated", params: { threadId: params.threadId, threadName: params.name } });
      },

      "thread/compact/start": async (_client, raw, respond) => {
        const params = parse(ThreadIdParams, raw);
        const thread = this.loaded(params.threadId);
        const turnId = this.ids.conversationId();
        thread.mapper.openTurn(turnId);
        await thread.conversation.submitWithId({ id: turnId, op: { type: "compact" } });
        respond({});
      },

      "turn/start": async (_client, raw, respond) => {
        const params = parse(TurnStartParams, raw);
        const thread = this.loaded(params.threadId);
        const override: Extract<Op, { type: "override_turn_context" }> = { type: "override_turn_context" };
        if (params.cwd) override.cwd = params.cwd;
        if (params.approvalPolicy) override.approval_policy = params.approvalPolicy;
        if (params.sandboxPolicy) override.sandbox_policy = sandboxPolicyFromV2(params.sandboxPolicy);
        if (params.model) override.model = params.model;
        if (params.effort) override.effort = params.effort;
        if (params.summary) override.summary = params.summary;
        if (Object.keys(override).length > 1) await thread.conversation.submit(override);
        const turnId = this.ids.conversationId();
        const turn = thread.mapper.openTurn(turnId);
        await thread.conversation.submitWithId({ id: turnId, op: { type: "user_input", items: params.input.map(userInput) } });
        if (thread.facts.preview === "") thread.facts.preview = previewOf(params.input);
        respond({ turn });
      },

      "turn/steer": async (_client, raw, respond) => {
        const params = parse(TurnSteerParams, raw);
        const thread = this.loaded(params.threadId);
        const active = thread.mapper.activeTurnId;
        if (active === undefined) throw new AppServerRequestError(INVALID_REQUEST, "no active turn to steer");
        if (active !== params.expectedTurnId) {
          throw new AppServerRequestError(INVALID_REQUEST, `expected active turn id ${params.expectedTurnId} but found ${active}`);
        }
        await thread.conversation.submit({ type: "user_input", items: params.input.map(userInput) });
        respond({ turnId: active });
      },

      "turn/interrupt": async (_client, raw, respond) => {
        const params = parse(TurnInterruptParams, raw);
        const thread = this.loaded(params.threadId);
        const active = thread.mapper.activeTurnId;
        if (active === undefined || active !== params.turnId) return respond({});
        // Answered when the turn ends (Codex's order: the answer, then thread/status/changed and turn/completed),
        // or after a deadline if it does not.
        const timer = this.clock.setTimeout(() => respond({}), INTERRUPT_ANSWER_TIMEOUT_MS);
        thread.interrupts.push({
          turnId: active,
          respond: (result) => {
            this.clock.clearTimeout(timer);
            respond(result);
          },
        });
        await thread.conversation.submit({ type: "interrupt" });
      },

      "review/start": async (_client, raw, respond) => {
        const params = parse(ReviewStartParams, raw);
        const thread = this.loaded(params.threadId);
        const turnId = this.ids.conversationId();
        const turn = thread.mapper.openTurn(turnId);
        const { prompt, hint } = reviewPrompt(params.target);
        await thread.conversation.submitWithId({
          id: turnId,
          op: { type: "review", review_request: { prompt, user_facing_hint: hint } },
        });
        respond({ turn, reviewThreadId: thread.id });
      },

      "model/list": async (_client, raw, respond) => {
        parse(AnyParams, raw);
        const config = await this.loadConfig({ home: this.home });
        respond({
          data: [
            {
              id: config.model,
              model: config.model,
              displayName: config.model,
              description: `${config.model} (provider ${config.modelProvider})`,
              hidden: false,
              isDefault: true,
              defaultReasoningEffort: config.reasoningEffort ?? "medium",
              supportedReasoningEfforts: (["low", "medium", "high"] as const).map((effort) => ({
                reasoningEffort: effort,
                description: `${effort} reasoning effort`,
              })),
              inputModalities: ["text", "image"],
            },
          ],
          nextCursor: null,
        });
      },

      "config/read": async (_client, raw, respond) => {
        const params = parse(AnyParams, raw) as { cwd?: unknown } | null | undefined;
        const cwd = typeof params?.cwd === "string" ? params.cwd : undefined;
        const config = await this.loadConfig({ home: this.home, ...(cwd ? { cwd } : {}) });
        respond({
          config: {
            model: config.model,
            model_provider: config.modelProvider,
            approval_policy: config.approvalPolicy === "on-failure" ? "on-request" : config.approvalPolicy,
            sandbox_mode: sandboxModeOf(config),
            model_reasoning_effort: config.reasoningEffort ?? null,
            developer_instructions: config.developerInstructions ?? null,
          },
          origins: {},
          layers: null,
        });
      },

      "account/read": async (_client, raw, respond) => {
        parse(AnyParams, raw);
        respond({ account: null, requiresOpenaiAuth: false });
      },

      // v1, still called by some clients at start.
      getAuthStatus: async (_client, raw, respond) => {
        parse(AnyParams, raw);
        respond({ authMethod: null, authToken: null, requiresOpenaiAuth: false });
      },

      "llmx/supervision/list": async (_client, raw, respond) => {
        parse(AnyParams, raw);
        const data = supervisionTree(this.manager.list(), this.manager.pendingApprovals(), (id) => {
          const thread = this.threads.get(id);
          if (thread === undefined) {
            const seen = this.firstSeen.get(id);
            return seen === undefined ? undefined : { createdAt: seen, tokens: null };
          }
          return { model: thread.config.model, cwd: thread.config.cwd, createdAt: thread.facts.createdAt, tokens: thread.tokens };
        });
        respond({ data });
      },
    };
    return h;
  }
}

// ---- helpers -------------------------------------------------------------------------------------------

function parse<T extends z.ZodType>(schema: T, params: unknown): z.infer<T> {
  const parsed = schema.safeParse(params);
  if (!parsed.success) throw invalidParams(parsed.error);
  return parsed.data;
}

const threadNotFound = (threadId: string): AppServerRequestError =>
  new AppServerRequestError(INVALID_REQUEST, `thread not found: ${threadId}`);

function rpcCode(error: unknown): number {
  if (error instanceof AppServerRequestError) return error.rpcCode;
  // What the client can correct (a bad config override, a thread another process holds) is its request's error.
  if (error instanceof ConversationNotFoundError || error instanceof InvalidConfigError || error instanceof ConversationInUseError) {
    return INVALID_REQUEST;
  }
  if (error instanceof ZodError) return INVALID_REQUEST;
  return INTERNAL_ERROR;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A session that refuses to start ends its worker with the reason: say the reason itself. */
function rethrowStartFailure(error: unknown): never {
  if (error instanceof WorkerCrashedError && error.cause instanceof LlmxError) throw error.cause;
  throw error;
}

function approvalKey(request: ApprovalRequest): string {
  return `${request.threadId}\u0000${request.eventId}\u0000${request.callId}`;
}

function reviewDecision(decision: z.infer<typeof ApprovalResponse>["decision"]): ReviewDecision {
  if (typeof decision !== "string") return "approved";
  switch (decision) {
    case "accept":
      return "approved";
    case "acceptForSession":
      return "approved_for_session";
    case "decline":
      return "denied";
    case "cancel":
      return "abort";
  }
}

function userInput(input: UserInputV2): UserInput {
  switch (input.type) {
    case "text":
      return { type: "text", text: input.text };
    case "image":
      return { type: "image", image_url: input.url };
    case "localImage":
      return { type: "local_image", path: input.path };
  }
}

function previewOf(input: readonly UserInputV2[]): string {
  return input.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("");
}

/** `config` of thread/start as `key=value` TOML overrides (values written as JSON, which TOML reads for scalars). */
function tomlOverrides(config: Record<string, unknown> | null | undefined): string[] {
  if (!config) return [];
  return Object.entries(config).flatMap(([key, value]) =>
    value === null || value === undefined ? [] : [`${key}=${JSON.stringify(value)}`],
  );
}

function sandboxModeOf(config: ConversationConfig): string {
  const policy = config.sandboxPolicy as { mode?: string; type?: string };
  return policy.mode ?? policy.type ?? "read-only";
}

function reviewPrompt(target: z.infer<typeof ReviewStartParams>["target"]): { prompt: string; hint: string } {
  switch (target.type) {
    case "custom":
      return { prompt: target.instructions, hint: target.instructions };
    case "uncommittedChanges":
      return {
        prompt: "Review the current code changes (staged, unstaged, and untracked files) and provide prioritized findings.",
        hint: "current changes",
      };
    case "baseBranch":
      return {
        prompt: `Review the code changes against the base branch '${target.branch}' and provide prioritized findings.`,
        hint: `changes against '${target.branch}'`,
      };
    case "commit":
      return {
        prompt: `Review the code changes introduced by commit ${target.sha} and provide prioritized findings.`,
        hint: `commit ${target.sha.slice(0, 7)}`,
      };
  }
}

async function isDirectory(dir: string): Promise<boolean> {
  return stat(dir).then(
    (info) => info.isDirectory(),
    () => false,
  );
}
