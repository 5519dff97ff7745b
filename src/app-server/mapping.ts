// llmx protocol events of one thread -> Codex v2 notifications, in Codex's order: thread/status/changed and
// turn/started when a task starts; item/started, deltas and item/completed for user messages, agent messages,
// reasoning and commands; thread/tokenUsage/updated; error; thread/status/changed and turn/completed when it
// ends. Approval requests come out as `approval` outputs: the server turns them into server requests.
import type { Clock, Event, EventMsgOf, TokenUsage } from "../index.js";
import { agentMessageItem, commandItem, shellJoin, unixSeconds, type ThreadStatus, type V2Item, type V2Turn } from "./threads.js";

export type Notification = { method: string; params: Record<string, unknown> };

export type ApprovalRequest = {
  kind: "exec" | "patch";
  /** The llmx event id to answer with (`exec_approval` / `patch_approval` on the thread's conversation). */
  eventId: string;
  callId: string;
  /** The thread that asked: a sub-agent's own id when a sub-agent asked. */
  threadId: string;
  /** Set when a sub-agent asked: the thread right above it. */
  parentThreadId: string | null;
  turnId: string;
  method: "item/commandExecution/requestApproval" | "item/fileChange/requestApproval";
  params: Record<string, unknown>;
};

export type Output =
  | { kind: "notification"; notification: Notification }
  | { kind: "approval"; request: ApprovalRequest }
  /** The turn ended (completed, failed or interrupted): pending interrupts are answered, open requests resolved. */
  | { kind: "turnEnded"; turnId: string };

type Tracked = { turn: V2Turn; startedMs: number; failed: string | null };

export class ThreadEventMapper {
  private readonly turns = new Map<string, Tracked>();
  private readonly commands = new Map<string, { item: V2Item; startedAtMs: number; threadId: string }>();
  private readonly agentText = new Map<string, { text: string; startedAtMs: number }>();
  /** Sub-agent threads already announced with thread/started. */
  private readonly announced = new Set<string>();
  private lastTurnId: string | undefined;
  private waitingOnApproval = 0;

  constructor(
    readonly threadId: string,
    private readonly clock: Clock,
    /** Builds the thread/started notification of a sub-agent (its Thread object names its parent). */
    private readonly subAgentThread: (threadId: string, parentThreadId: string) => Record<string, unknown>,
  ) {}

  /** Registers a turn the server started (turn/start, review/start), so the response and events share its id. */
  openTurn(turnId: string): V2Turn {
    const turn: V2Turn = {
      id: turnId,
      rootTurnId: turnId,
      items: [],
      itemsView: "notLoaded",
      status: "inProgress",
      error: null,
      startedAt: null,
      completedAt: null,
      durationMs: null,
    };
    this.turns.set(turnId, { turn, startedMs: this.clock.now().getTime(), failed: null });
    return { ...turn };
  }

  get activeTurnId(): string | undefined {
    for (const [id, tracked] of this.turns) if (tracked.turn.status === "inProgress" && tracked.turn.startedAt !== null) return id;
    return undefined;
  }

  get status(): ThreadStatus {
    if (this.activeTurnId === undefined) return { type: "idle" };
    return { type: "active", activeFlags: this.waitingOnApproval > 0 ? ["waitingOnApproval"] : [] };
  }

  /** An approval request was answered (or dropped): the thread may stop waiting. */
  approvalSettled(): Output[] {
    if (this.waitingOnApproval > 0) this.waitingOnApproval--;
    return this.activeTurnId === undefined ? [] : [this.note("thread/status/changed", { threadId: this.threadId, status: this.status })];
  }

  map(event: Event): Output[] {
    const msg = event.msg;
    const turnId = event.id;
    const base = { threadId: this.threadId, turnId };
    const now = this.clock.now().getTime();
    switch (msg.type) {
      case "task_started": {
        const tracked = this.turns.get(turnId) ?? this.track(turnId);
        tracked.turn.startedAt = unixSeconds(now);
        tracked.startedMs = now;
        this.lastTurnId = turnId;
        return [
          this.note("thread/status/changed", { threadId: this.threadId, status: { type: "active", activeFlags: [] } }),
          this.note("turn/started", { threadId: this.threadId, turn: { ...tracked.turn, items: [] } }),
        ];
      }
      case "item_started":
      case "item_completed": {
        const item = this.itemOf(msg.item, msg.type === "item_completed");
        if (item === undefined) return [];
        const tracked = this.turns.get(turnId);
        if (msg.type === "item_started") {
          if (item.type === "agentMessage") this.agentText.set(item.id, { text: "", startedAtMs: now });
          return [this.note("item/started", { item: { ...item, startedAtMs: now, completedAtMs: null }, ...base, startedAtMs: now })];
        }
        const startedAtMs = this.agentText.get(item.id)?.startedAtMs ?? now;
        this.agentText.delete(item.id);
        if (item.type === "agentMessage" && tracked) tracked.turn.items.push({ ...item, startedAtMs, completedAtMs: now });
        const out: Output[] = [];
        // Reasoning has no item_started in llmx: open it here so every item has both ends.
        if (item.type === "reasoning") out.push(this.note("item/started", { item, ...base, startedAtMs: now }));
        out.push(
          this.note("item/completed", {
            item: { ...item, startedAtMs, completedAtMs: now },
            ...base,
            contentTokenCount: null,
            completedAtMs: now,
          }),
        );
        return out;
      }
      case "agent_message_content_delta":
        return [this.note("item/agentMessage/delta", { ...base, itemId: msg.item_id, delta: msg.delta })];
      case "exec_command_begin": {
        const owner = this.ownerOf(msg.conversation_path);
        const command = shellJoin(msg.command);
        const item = commandItem(msg.call_id, command, msg.cwd, "inProgress");
        this.commands.set(this.commandKey(msg.call_id, msg.conversation_path), { item, startedAtMs: now, threadId: owner.threadId });
        return [
          ...owner.announce,
          this.note("item/started", {
            item: { ...item, startedAtMs: now, completedAtMs: null },
            threadId: owner.threadId,
            turnId,
            startedAtMs: now,
          }),
        ];
      }
      case "exec_command_output_delta": {
        const entry = this.commands.get(this.commandKey(msg.call_id, undefined));
        if (!entry) return [];
        const delta = Buffer.from(msg.chunk, "base64").toString("utf8");
        return [this.note("item/commandExecution/outputDelta", { threadId: entry.threadId, turnId, itemId: msg.call_id, delta })];
      }
      case "exec_command_end": {
        const key = this.commandKey(msg.call_id, msg.conversation_path);
        const entry = this.commands.get(key);
        this.commands.delete(key);
        const owner = this.ownerOf(msg.conversation_path);
        const declined = msg.exit_code === -1 && msg.duration.secs === 0 && msg.duration.nanos === 0 && msg.stdout === "";
        const item: V2Item = {
          ...(entry?.item ?? commandItem(msg.call_id, "", "", "completed")),
          status: declined ? "declined" : msg.exit_code === 0 ? "completed" : "failed",
          aggregatedOutput: msg.aggregated_output ?? msg.stdout,
          exitCode: msg.exit_code,
          durationMs: Math.round(msg.duration.secs * 1000 + msg.duration.nanos / 1e6),
          startedAtMs: entry?.startedAtMs ?? now,
          completedAtMs: now,
        };
        return [
          ...owner.announce,
          this.note("item/completed", { item, threadId: owner.threadId, turnId, contentTokenCount: null, completedAtMs: now }),
        ];
      }
      case "exec_approval_request":
        return this.approval(event as Event & { msg: EventMsgOf<"exec_approval_request"> }, now);
      case "apply_patch_approval_request":
        return this.approval(event as Event & { msg: EventMsgOf<"apply_patch_approval_request"> }, now);
      case "token_count": {
        if (!msg.info) return [];
        return [
          this.note("thread/tokenUsage/updated", {
            ...base,
            tokenUsage: {
              total: breakdown(msg.info.total_token_usage),
              last: breakdown(msg.info.last_token_usage),
              modelContextWindow: msg.info.model_context_window,
            },
          }),
        ];
      }
      case "stream_error":
        return [this.errorNote(msg.message, true, base)];
      case "error": {
        const tracked = this.turns.get(turnId);
        if (tracked) tracked.failed = msg.message;
        return [this.errorNote(msg.message, false, { threadId: this.threadId, turnId: tracked ? turnId : (this.lastTurnId ?? turnId) })];
      }
      case "warning":
        return [this.note("warning", { threadId: this.threadId, message: msg.message })];
      case "entered_review_mode":
      case "exited_review_mode": {
        const review = msg.type === "entered_review_mode" ? (msg.user_facing_hint ?? msg.prompt ?? "") : reviewText(msg.review_output);
        const item = { type: msg.type === "entered_review_mode" ? "enteredReviewMode" : "exitedReviewMode", id: `${turnId}:${msg.type}`, review };
        return [
          this.note("item/started", { item, ...base, startedAtMs: now }),
          this.note("item/completed", { item, ...base, contentTokenCount: null, completedAtMs: now }),
        ];
      }
      case "task_complete":
      case "turn_aborted": {
        const tracked = this.turns.get(turnId);
        if (!tracked) return [];
        this.turns.delete(turnId);
        this.waitingOnApproval = 0;
        const turn = tracked.turn;
        turn.completedAt = unixSeconds(now);
        turn.durationMs = now - tracked.startedMs;
        if (msg.type === "turn_aborted") {
          turn.status = "interrupted";
          turn.items = [];
          turn.itemsView = "notLoaded";
        } else if (tracked.failed !== null) {
          turn.status = "failed";
          turn.error = { message: tracked.failed, codexErrorInfo: null, additionalDetails: null };
          turn.itemsView = "summary";
        } else {
          turn.status = "completed";
          turn.itemsView = "summary";
        }
        return [
          { kind: "turnEnded", turnId },
          this.note("thread/status/changed", { threadId: this.threadId, status: this.status }),
          this.note("turn/completed", { threadId: this.threadId, turn }),
        ];
      }
      default:
        return [];
    }
  }

  private track(turnId: string): Tracked {
    this.openTurn(turnId);
    return this.turns.get(turnId) as Tracked;
  }

  private note(method: string, params: Record<string, unknown>): Output {
    return { kind: "notification", notification: { method, params } };
  }

  private errorNote(message: string, willRetry: boolean, where: { threadId: string; turnId: string }): Output {
    return this.note("error", {
      error: { message, codexErrorInfo: null, additionalDetails: null },
      willRetry,
      ...where,
    });
  }

  /** The thread an event with `path` belongs to, announcing a sub-agent's thread the first time it shows. */
  private ownerOf(path: readonly string[] | undefined): { threadId: string; parentThreadId: string | null; announce: Output[] } {
    if (path === undefined || path.length < 2) return { threadId: this.threadId, parentThreadId: null, announce: [] };
    const threadId = path.at(-1) as string;
    const parentThreadId = path.at(-2) as string;
    const announce: Output[] = [];
    if (!this.announced.has(threadId)) {
      this.announced.add(threadId);
      announce.push(this.note("thread/started", { thread: this.subAgentThread(threadId, parentThreadId) }));
    }
    return { threadId, parentThreadId, announce };
  }

  private commandKey(callId: string, path: readonly string[] | undefined): string {
    return `${(path ?? []).slice(1).join("/")}:${callId}`;
  }

  private approval(
    event: Event & { msg: EventMsgOf<"exec_approval_request"> | EventMsgOf<"apply_patch_approval_request"> },
    now: number,
  ): Output[] {
    const msg = event.msg;
    const owner = this.ownerOf(msg.conversation_path);
    const turnId = event.id;
    this.waitingOnApproval++;
    const common = {
      threadId: owner.threadId,
      ...(owner.parentThreadId === null ? {} : { parentThreadId: owner.parentThreadId }),
      turnId,
      itemId: msg.call_id,
      startedAtMs: this.commands.get(this.commandKey(msg.call_id, msg.conversation_path))?.startedAtMs ?? now,
      reason: msg.reason ?? null,
    };
    const request: ApprovalRequest =
      msg.type === "exec_approval_request"
        ? {
            kind: "exec",
            eventId: event.id,
            callId: msg.call_id,
            threadId: owner.threadId,
            parentThreadId: owner.parentThreadId,
            turnId,
            method: "item/commandExecution/requestApproval",
            params: {
              kind: "command",
              ...common,
              environmentId: "local",
              command: shellJoin(msg.command),
              cwd: msg.cwd,
              commandActions: [{ type: "unknown", command: shellJoin(msg.command) }],
              availableDecisions: ["accept", "acceptForSession", "decline", "cancel"],
            },
          }
        : {
            kind: "patch",
            eventId: event.id,
            callId: msg.call_id,
            threadId: owner.threadId,
            parentThreadId: owner.parentThreadId,
            turnId,
            method: "item/fileChange/requestApproval",
            params: { ...common, grantRoot: msg.grant_root ?? null },
          };
    return [
      ...owner.announce,
      this.note("thread/status/changed", { threadId: this.threadId, status: { type: "active", activeFlags: ["waitingOnApproval"] } }),
      { kind: "approval", request },
    ];
  }

  private itemOf(item: Record<string, unknown>, completed: boolean): V2Item | undefined {
    const user = item.UserMessage as { id: string; content: { type: string; text?: string; image_url?: string; path?: string }[] } | undefined;
    if (user) {
      const content = user.content.map((part) =>
        part.type === "text"
          ? { type: "text", text: part.text ?? "", text_elements: [] }
          : part.type === "image"
            ? { type: "image", url: part.image_url ?? "" }
            : { type: "localImage", path: part.path ?? "" },
      );
      return { type: "userMessage", id: user.id, clientId: null, content };
    }
    const agent = item.AgentMessage as { id: string; content: { Text?: { text: string } }[] } | undefined;
    if (agent) return agentMessageItem(agent.id, completed ? agent.content.map((part) => part.Text?.text ?? "").join("") : "");
    const reasoning = item.Reasoning as { id: string; summary_text: string[]; raw_content: string[] } | undefined;
    if (reasoning) return { type: "reasoning", id: reasoning.id, summary: reasoning.summary_text, content: reasoning.raw_content };
    return undefined;
  }
}

function breakdown(usage: TokenUsage): Record<string, number> {
  return {
    totalTokens: usage.total_tokens,
    inputTokens: usage.input_tokens,
    cachedInputTokens: usage.cached_input_tokens,
    cacheWriteInputTokens: 0,
    outputTokens: usage.output_tokens,
    reasoningOutputTokens: usage.reasoning_output_tokens,
  };
}

function reviewText(output: unknown): string {
  if (output === null || output === undefined) return "";
  const explanation = (output as { overall_explanation?: unknown }).overall_explanation;
  return typeof explanation === "string" ? explanation : JSON.stringify(output);
}
