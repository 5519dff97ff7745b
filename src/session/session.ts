// A conversation's session, as it runs inside its worker thread: it opens the rollout, rebuilds history,
// announces itself with `session_configured` (id ""), then processes submissions strictly in order. A turn
// runs in the background so that `interrupt`, overrides and `shutdown` are handled while it streams.
import { setTimeout as sleep } from "node:timers/promises";
import type { ConversationConfig } from "../config.js";
import { DEFAULT_ORIGINATOR, CLI_VERSION } from "../version.js";
import type {
  Event,
  EventMsg,
  InitialHistory,
  OpOf,
  ResponseItem,
  RolloutItem,
  SessionMeta,
  SessionSource,
  Submission,
  TokenUsage,
} from "../protocol/index.js";
import { Op, userInputToMessage } from "../protocol/index.js";
import { RolloutRecorder } from "../rollout/recorder.js";
import { initialMessages, reconstructHistory } from "../rollout/reconstruct.js";
import type { ModelClient } from "../model/types.js";
import { createModelClient } from "../model/registry.js";
import { type Clock, type IdSource, createIdSource, systemClock } from "../util/clock.js";
import { loadUserInstructions } from "./agents-md.js";
import { PendingApprovals } from "./approvals.js";
import { BASE_INSTRUCTIONS } from "./prompt.js";
import { createEventSink, type EventSink } from "./event-sink.js";
import { ConversationHistory } from "./history.js";
import { buildInitialContext, environmentContextText, userShellName, type EnvironmentContext } from "./initial-context.js";
import { applyOverrides, inheritedSettings, settingsFromConfig, turnContextItem, type TurnSettings } from "./settings.js";
import { runTurn, type TurnDeps } from "./turn.js";
import type { DelegateContext } from "../delegate/delegate.js";
import { COMPACT_COMPLETED, COMPACT_WARNING, SUMMARIZATION_PROMPT, runCompaction } from "../delegate/compact.js";
import { reviewNote, runReview } from "../delegate/review.js";
import type { SupervisorLink } from "./worker-task.js";

/** Everything a worker needs to start a session. Plain data: it is cloned into the worker thread. */
export type SessionInit = {
  conversationId: string;
  rolloutPath: string;
  config: ConversationConfig;
  initialHistory: InitialHistory;
  source: SessionSource;
  /** Set for sub-agents: the conversation that delegated to this one, and how deep it is (root = 0). */
  parentId?: string;
  depth?: number;
};

export type SessionIo = {
  submissions: AsyncIterable<Submission>;
  deliver(event: Event): void;
  /** One submission was taken off the queue (frees one slot of the bounded submission queue). */
  acknowledge(): void;
  /** Called once session_configured has been sent. */
  configured?(): void;
  /** How to start sub-agents; without it the session cannot delegate. */
  supervisor?: SupervisorLink;
};

export type SessionDeps = {
  clock: Clock;
  ids: IdSource;
  createModel(config: ConversationConfig): Promise<ModelClient>;
};

export const defaultSessionDeps: SessionDeps = {
  clock: systemClock,
  ids: createIdSource(systemClock),
  createModel: createModelClient,
};

/** Codex waits this long for an aborted task to wind down before reporting it aborted. */
export const ABORT_GRACE_MS = 100;

type RunningTask = {
  subId: string;
  controller: AbortController;
  done: Promise<void>;
  pendingInput: ResponseItem[];
  finishing: boolean;
  /** Runs when the task is aborted, before `turn_aborted` (the review task closes review mode here). */
  onAbort?: (() => void) | undefined;
};

export async function runSession(init: SessionInit, io: SessionIo, deps: SessionDeps = defaultSessionDeps): Promise<void> {
  const { config, conversationId } = init;
  const model = await deps.createModel(config);
  const userInstructions =
    config.projectDocs === false ? config.userInstructions : await loadUserInstructions(config.cwd, config.userInstructions);
  const recorder = await openRecorder(init, userInstructions, deps.clock);
  const sink = createEventSink({
    recorder,
    deliver: io.deliver,
    onWriteError: (error) =>
      io.deliver({ id: "", msg: { type: "error", message: `failed to write rollout: ${String(error)}` } }),
  });

  let settings = settingsFromConfig(config);
  const shell = userShellName();
  const initialContext = (): ResponseItem[] =>
    buildInitialContext({
      cwd: settings.cwd,
      approvalPolicy: settings.approvalPolicy,
      sandboxPolicy: settings.sandboxPolicy,
      ...(shell === undefined ? {} : { shell }),
      userInstructions,
      developerInstructions: config.developerInstructions,
    });

  const history = new ConversationHistory();
  const start = init.initialHistory;
  if (start.type === "new") {
    const context = initialContext();
    history.record(context);
    sink.record(context.map((payload) => ({ type: "response_item", payload })));
  } else {
    const items = start.type === "resumed" ? start.history : start.items;
    history.record(reconstructHistory(items, initialContext));
    // A fork's file holds a copy of what it was forked from; a resumed file already has it.
    if (start.type === "forked") sink.record(items);
  }

  const configured: EventMsg = {
    type: "session_configured",
    session_id: conversationId,
    model: settings.model,
    history_log_id: 0,
    history_entry_count: 0,
    rollout_path: recorder.path,
  };
  if (settings.effort !== undefined) configured.reasoning_effort = settings.effort;
  if (start.type !== "new") {
    configured.initial_messages = initialMessages(start.type === "resumed" ? start.history : start.items);
  }
  sink.emit("", configured);
  await sink.flushed();
  io.configured?.();

  const usage: { total: TokenUsage | undefined } = { total: undefined };
  let lastTurnEnv: EnvironmentContext = { cwd: settings.cwd, approvalPolicy: settings.approvalPolicy, sandboxPolicy: settings.sandboxPolicy };
  let running: RunningTask | undefined;
  const approvals = new PendingApprovals();
  const approvedForSession = new Set<string>();

  /** Runs `body` as the session's one task, in the background, with everything a turn needs. */
  const startTask = (
    subId: string,
    body: (deps: TurnDeps, signal: AbortSignal) => Promise<void>,
    onAbort?: () => void,
  ): void => {
    const controller = new AbortController();
    const task: RunningTask = { subId, controller, done: Promise.resolve(), pendingInput: [], finishing: false, onAbort };
    const emit = (msg: EventMsg): void => {
      if (!controller.signal.aborted) sink.emit(subId, msg);
    };
    const turnDeps: TurnDeps = {
      conversationId,
      model,
      history,
      baseInstructions: config.baseInstructions ?? BASE_INSTRUCTIONS,
      newItemId: () => deps.ids.itemId(),
      emit,
      record: (rolloutItems) => {
        if (!controller.signal.aborted) sink.record(rolloutItems);
      },
      takePendingInput: () => task.pendingInput.splice(0),
      hasPendingInput: () => task.pendingInput.length > 0,
      markFinishing: () => {
        task.finishing = true;
      },
      usage,
      approvals,
      approvedForSession,
      delegation: (signal) => delegation(subId, emit, signal),
      trackProcessGroup: (pid, running) => io.supervisor?.trackProcessGroup(pid, running),
      canDelegate: io.supervisor !== undefined,
      toolsEnabled: config.tools !== false,
    };
    task.done = body(turnDeps, controller.signal)
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        sink.emit(subId, { type: "error", message: error instanceof Error ? error.message : String(error) });
        task.finishing = true;
        sink.emit(subId, { type: "task_complete", last_agent_message: null });
      })
      .finally(() => {
        if (running === task) running = undefined;
      });
    running = task;
  };

  const startTurn = (subId: string, items: OpOf<"user_input">["items"]): void => {
    recordEnvironmentChange(settings, lastTurnEnv, history, sink);
    lastTurnEnv = { cwd: settings.cwd, approvalPolicy: settings.approvalPolicy, sandboxPolicy: settings.sandboxPolicy };
    const turnSettings = settings;
    startTask(subId, (turnDeps, signal) => runTurn(subId, items, turnSettings, turnDeps, signal));
  };

  /** The one place a delegation is described: this conversation, its turn, and the rules its children inherit. */
  const delegation = (subId: string, emit: (msg: EventMsg) => void, signal: AbortSignal): DelegateContext | undefined =>
    io.supervisor === undefined
      ? undefined
      : {
          selfId: conversationId,
          depth: init.depth ?? 0,
          subId,
          supervisor: io.supervisor,
          approvals,
          emit,
          signal,
          inherit: inheritedSettings(settings),
        };
  const requireDelegation = (subId: string, turnDeps: TurnDeps, signal: AbortSignal): DelegateContext => {
    const context = delegation(subId, turnDeps.emit, signal);
    if (context === undefined) throw new Error("this conversation cannot start sub-agents");
    return context;
  };

  const startReview = (subId: string, request: OpOf<"review">["review_request"]): void => {
    const recordNote = (note: ResponseItem): void => {
      history.record([note]);
      sink.record([{ type: "response_item", payload: note }]);
    };
    startTask(
      subId,
      async (turnDeps, signal) => {
        turnDeps.emit({ type: "task_started", model_context_window: model.contextWindow(settings.model) });
        await runReview(request, { delegate: requireDelegation(subId, turnDeps, signal), emit: turnDeps.emit, recordNote });
        turnDeps.markFinishing();
        turnDeps.emit({ type: "task_complete", last_agent_message: null });
      },
      () => {
        recordNote(reviewNote(undefined));
        sink.emit(subId, { type: "exited_review_mode", review_output: null });
      },
    );
  };

  const startCompaction = (subId: string): void => {
    startTask(subId, async (turnDeps, signal) => {
      turnDeps.emit({ type: "task_started", model_context_window: model.contextWindow(settings.model) });
      turnDeps.record([{ type: "turn_context", payload: turnContextItem(settings) }]);
      await runCompaction({
        delegate: requireDelegation(subId, turnDeps, signal),
        history: () => history.contents(),
        applyCompaction: (summary) => {
          const compacted: RolloutItem = { type: "compacted", payload: { message: summary } };
          const items: RolloutItem[] = history.contents().map((payload) => ({ type: "response_item", payload }));
          history.replace(reconstructHistory([...items, compacted], initialContext));
          turnDeps.record([compacted]);
        },
      });
      turnDeps.emit({ type: "agent_message", message: COMPACT_COMPLETED });
      turnDeps.emit({ type: "warning", message: COMPACT_WARNING });
      turnDeps.markFinishing();
      turnDeps.emit({ type: "task_complete", last_agent_message: null });
    });
  };

  const abortRunning = async (reason: "interrupted" | "replaced"): Promise<void> => {
    const task = running;
    if (task === undefined || task.finishing) return;
    running = undefined;
    task.controller.abort();
    await Promise.race([task.done, sleep(ABORT_GRACE_MS)]);
    task.onAbort?.();
    sink.emit(task.subId, { type: "turn_aborted", reason });
  };

  for await (const submission of io.submissions) {
    io.acknowledge();
    const parsed = Op.safeParse(submission.op);
    if (!parsed.success) {
      sink.emit(submission.id, { type: "error", message: `invalid op: ${parsed.error.issues[0]?.message ?? "unknown"}` });
      continue;
    }
    const op = parsed.data;
    const id = submission.id;
    switch (op.type) {
      case "user_input":
      case "user_turn":
        if (op.type === "user_turn") settings = applyOverrides(settings, op);
        if (running && !running.finishing) running.pendingInput.push(userInputToMessage(op.items));
        else startTurn(id, op.items);
        break;
      case "review":
        await abortRunning("replaced");
        startReview(id, op.review_request);
        break;
      case "compact":
        // Like Codex: while a task runs, the summarization request joins it as input instead.
        if (running && !running.finishing) {
          running.pendingInput.push(userInputToMessage([{ type: "text", text: SUMMARIZATION_PROMPT }]));
        } else {
          startCompaction(id);
        }
        break;
      case "override_turn_context":
        settings = applyOverrides(settings, op);
        break;
      case "interrupt":
        await abortRunning("interrupted");
        break;
      case "add_to_history":
        break;
      case "exec_approval":
      case "patch_approval":
        if (!approvals.has(op.id)) {
          // Nothing runs on an answer nobody asked for.
          sink.emit(id, { type: "error", message: `no pending approval with id ${op.id}` });
        } else if (op.decision === "abort") {
          await abortRunning("interrupted");
        } else {
          approvals.answer(op.id, op.decision);
        }
        break;
      case "shutdown":
        await abortRunning("interrupted");
        await sink.flushed();
        try {
          await recorder.close();
        } catch {
          sink.emit(id, { type: "error", message: "Failed to shutdown rollout recorder" });
        }
        sink.emit(id, { type: "shutdown_complete" });
        await sink.flushed();
        return;
      default:
        sink.emit(id, { type: "error", message: `op "${op.type}" is not supported by llmx yet` });
    }
  }
  // The supervisor closed the channel without a shutdown: stop quietly, keeping what was recorded.
  await abortRunning("interrupted");
  await sink.flushed();
  await recorder.close();
}

async function openRecorder(
  init: SessionInit,
  userInstructions: string | undefined,
  clock: Clock,
): Promise<RolloutRecorder> {
  if (init.initialHistory.type === "resumed") {
    return RolloutRecorder.resume({ path: init.initialHistory.rolloutPath, clock });
  }
  const meta: SessionMeta = {
    id: init.conversationId,
    timestamp: clock.now().toISOString(),
    cwd: init.config.cwd,
    originator: init.config.originator ?? DEFAULT_ORIGINATOR,
    cli_version: CLI_VERSION,
    instructions: userInstructions ?? null,
    source: init.source,
    model_provider: init.config.modelProvider,
  };
  if (init.parentId !== undefined) {
    meta.parent_id = init.parentId;
    meta.depth = init.depth ?? 1;
  }
  if (init.config.baseInstructions !== undefined) meta.base_instructions = { text: init.config.baseInstructions };
  return RolloutRecorder.create({ path: init.rolloutPath, meta, clock });
}

function recordEnvironmentChange(
  settings: TurnSettings,
  previous: EnvironmentContext,
  history: ConversationHistory,
  sink: EventSink,
): void {
  const diff: EnvironmentContext = {};
  if (settings.cwd !== previous.cwd) diff.cwd = settings.cwd;
  if (settings.approvalPolicy !== previous.approvalPolicy) diff.approvalPolicy = settings.approvalPolicy;
  if (JSON.stringify(settings.sandboxPolicy) !== JSON.stringify(previous.sandboxPolicy)) {
    diff.sandboxPolicy = settings.sandboxPolicy;
  }
  if (Object.keys(diff).length === 0) return;
  const item: ResponseItem = {
    type: "message",
    role: "user",
    content: [{ type: "input_text", text: environmentContextText(diff) }],
  };
  history.record([item]);
  const line: RolloutItem = { type: "response_item", payload: item };
  sink.record([line]);
}
