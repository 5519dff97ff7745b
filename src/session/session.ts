// A conversation's session, as it runs inside its worker thread: it opens the rollout, rebuilds history,
// announces itself with `session_configured` (id ""), then processes submissions strictly in order. The task
// runner runs one task at a time in the background, so `interrupt`, overrides and `shutdown` are handled while
// it streams.
import { statSync } from "node:fs";
import type { ConversationConfig } from "../config.js";
import type { ChildSpawnRequest } from "../channel/messages.js";
import type { DelegateContext } from "../delegate/delegate.js";
import type { SupervisorLink } from "../delegate/child.js";
import { errorEvent, InvalidConfigError } from "../errors.js";
import { DEFAULT_ORIGINATOR, CLI_VERSION } from "../version.js";
import type {
  Event,
  EventMsg,
  InitialHistory,
  ResponseItem,
  SessionMeta,
  SessionSource,
  Op,
  Submission,
  TokenUsage,
} from "../protocol/index.js";
import { userInputToMessage } from "../protocol/plain.js";
import { RolloutRecorder, type RolloutFileIo } from "../rollout/recorder.js";
import { commandEnvironment } from "../tools/environment.js";
import { ProcessGroupTracker } from "../tools/process-groups.js";
import { initialMessages } from "../rollout/reconstruct.js";
import type { ModelClient } from "../model/types.js";
import { createModelClient } from "../model/registry.js";
import { type Clock, type IdSource, createIdSource, systemClock } from "../util/clock.js";
import { resolveLocalImages } from "../util/image.js";
import { loadUserInstructions } from "./agents-md.js";
import { PendingApprovals } from "./approvals.js";
import { BASE_INSTRUCTIONS } from "./prompt.js";
import { createEventSink } from "./event-sink.js";
import { buildInitialContext, environmentContextText, userShellName, type EnvironmentContext } from "./initial-context.js";
import { ConversationRecord } from "./record.js";
import { applyOverrides, inheritedSettings, settingsFromConfig, type TurnSettings } from "./settings.js";
import { SUMMARIZATION_PROMPT } from "./prompt.js";
import type * as Tasks from "./tasks/all.js";
import { TaskRunner } from "./tasks/runner.js";
import type { TaskContext } from "./tasks/task.js";
import type { ToolRuntime } from "./tool-calls.js";

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
  /**
   * Undefined while the client keeps up; otherwise resolves once it has caught up enough for the session to
   * produce more (or `signal` aborts). Tasks wait on it between model stream events and before model requests.
   */
  room?(signal: AbortSignal): Promise<void> | undefined;
  /** Called once session_configured has been sent. */
  configured?(): void;
  /** How to start sub-agents; without it the session cannot delegate. */
  supervisor?: SupervisorLink;
};

export type SessionDeps = {
  clock: Clock;
  ids: IdSource;
  createModel(config: ConversationConfig): Promise<ModelClient>;
  /** How the rollout file is written (tests inject a disk that fills up). */
  rolloutIo?: RolloutFileIo;
};

export const defaultSessionDeps: SessionDeps = {
  clock: systemClock,
  ids: createIdSource(systemClock),
  createModel: createModelClient,
};

/** Why a session ended normally: its client asked (`shutdown`), or its channel closed under it. */
export type SessionEnd = "shutdown" | "closed";

export async function runSession(init: SessionInit, io: SessionIo, deps: SessionDeps = defaultSessionDeps): Promise<SessionEnd> {
  const { config, conversationId } = init;
  checkCwd(config.cwd);
  const model = await deps.createModel(config);
  const userInstructions =
    config.projectDocs === false ? config.userInstructions : loadUserInstructions(config.cwd, config.userInstructions);
  const recorder = await openRecorder(init, userInstructions, deps);
  const sink = createEventSink({ recorder, deliver: io.deliver });

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
  const conversation = new ConversationRecord(sink, initialContext);

  const start = init.initialHistory;
  const configured: EventMsg = {
    type: "session_configured",
    session_id: conversationId,
    model: settings.model,
    history_log_id: 0,
    history_entry_count: 0,
    rollout_path: recorder.path,
  };
  if (settings.effort !== undefined) configured.reasoning_effort = settings.effort;
  if (start.type === "new") {
    conversation.recordResponseItems(initialContext());
  } else {
    const items = start.type === "resumed" ? start.history : start.items;
    conversation.restore(items, start.type === "forked");
    configured.initial_messages = initialMessages(items);
  }
  sink.emit("", configured);
  await sink.flushed();
  io.configured?.();
  preloadTurnCode(model);

  const usage: { total: TokenUsage | undefined } = { total: undefined };
  let lastTurnEnv: EnvironmentContext = { cwd: settings.cwd, approvalPolicy: settings.approvalPolicy, sandboxPolicy: settings.sandboxPolicy };
  const approvals = new PendingApprovals();
  // Commands and the background jobs they leave are the session's: reported to the supervisor (which kills them
  // if the worker dies) and killed when the session ends.
  const processGroups = new ProcessGroupTracker({
    onChange: (pid, running) => io.supervisor?.trackProcessGroup(pid, running),
  });
  const approvedForSession = new Set<string>();
  // Worked out on the first command: a session that runs none never pays for it (a thread's env is fixed).
  let commandEnv: NodeJS.ProcessEnv | undefined;
  const waitForApproval = (subId: string, callId: string, signal: AbortSignal) => approvals.wait(subId, callId, signal);

  /** The one place a delegation is described: this conversation, its task, and the rules its children inherit. */
  const delegation = (subId: string, emit: (msg: EventMsg) => void, signal: AbortSignal): DelegateContext => {
    if (io.supervisor === undefined) throw new Error("this conversation cannot start sub-agents");
    return {
      selfId: conversationId,
      subId,
      supervisor: io.supervisor,
      waitForApproval,
      emit,
      signal,
      inherit: inheritedSettings(settings),
      clock: deps.clock,
      room: (roomSignal) => io.room?.(roomSignal),
    };
  };

  const taskContext = (subId: string, live: () => boolean, pending: ResponseItem[], taskSettings: TurnSettings): TaskContext => {
    const emit = (msg: EventMsg): void => {
      if (live()) sink.emit(subId, msg);
    };
    const tools: ToolRuntime = {
      enabled: config.tools !== false,
      waitForApproval,
      approvedForSession,
      processGroups,
      get env() {
        return (commandEnv ??= commandEnvironment(config.shellEnvironmentPolicy, process.env));
      },
      llmxHome: config.home,
      delegate:
        io.supervisor === undefined
          ? undefined
          : async (prompt, signal) => {
              const request: ChildSpawnRequest = { kind: "thread_spawn" };
              const { runOneShot } = await import("../delegate/delegate.js");
              const result = await runOneShot(delegation(subId, emit, signal), request, [{ type: "text", text: prompt }]);
              if (result.aborted) return `sub-agent ${result.conversationId} was interrupted before it finished`;
              return result.lastAgentMessage ?? `sub-agent ${result.conversationId} finished without an answer`;
            },
    };
    return {
      subId,
      conversationId,
      settings: taskSettings,
      model,
      baseInstructions: config.baseInstructions ?? BASE_INSTRUCTIONS,
      emit,
      record: (items) => {
        if (live()) conversation.record(items);
      },
      recordResponseItems: (items) => {
        if (live()) conversation.recordResponseItems(items);
      },
      history: conversation,
      newItemId: () => deps.ids.itemId(),
      takePendingInput: () => pending.splice(0),
      hasPendingInput: () => pending.length > 0,
      usage,
      tools,
      room: (signal) => io.room?.(signal),
      delegation: (signal) => delegation(subId, emit, signal),
    };
  };

  const runner = new TaskRunner({
    clock: deps.clock,
    emit: (subId, msg) => sink.emit(subId, msg),
    context: (subId, live, pending) => taskContext(subId, live, pending, settings),
  });

  /** Records what changed in the environment since the last turn, as Codex does before a turn starts. */
  const recordEnvironmentChange = (): void => {
    const diff = environmentDiff(settings, lastTurnEnv);
    lastTurnEnv = { cwd: settings.cwd, approvalPolicy: settings.approvalPolicy, sandboxPolicy: settings.sandboxPolicy };
    if (diff === undefined) return;
    conversation.recordResponseItems([
      { type: "message", role: "user", content: [{ type: "input_text", text: environmentContextText(diff) }] },
    ]);
  };

  const close = async (): Promise<void> => {
    await runner.abort("interrupted");
    processGroups.killAll();
    await sink.flushed();
    await recorder.close();
  };

  // A failed rollout write ends the session with that error (its supervisor does not restart it into the same
  // failure); the running task is abandoned and nothing more is delivered.
  const submissions = io.submissions[Symbol.asyncIterator]();
  const writeFailed = sink.failed.catch(async (error: unknown) => {
    await runner.abort("interrupted");
    processGroups.killAll();
    await recorder.close().catch(() => undefined);
    throw error;
  });
  /** Carries out one submission, in order; "shutdown" once the session is done. */
  const handle = async (submission: Submission): Promise<"handled" | "shutdown"> => {
    // Ops are validated where they enter from a client (Conversation.submit); what reaches a worker comes from
    // llmx's own typed code, so only the tag is checked here (an unknown tag is `unsupported_op` below).
    const op = submission.op as Op | null;
    if (typeof op !== "object" || op === null || typeof op.type !== "string") {
      sink.emit(submission.id, { type: "error", message: "invalid op: not an object with a string `type`", code: "invalid_op" });
      return "handled";
    }
    const id = submission.id;
    switch (op.type) {
      case "user_input":
      case "user_turn": {
        if (op.type === "user_turn") settings = applyOverrides(settings, op);
        // Local images go to the model (and into the rollout) as data URLs, as Codex sends them.
        const items = await resolveLocalImages(op.items);
        if (!runner.inject(userInputToMessage(items))) {
          recordEnvironmentChange();
          // The schema applies to this turn only (Codex's `final_output_json_schema`).
          const schema = op.type === "user_turn" ? op.final_output_json_schema : undefined;
          runner.spawn(id, (await loadTasks()).regularTask(items, schema ?? undefined));
        }
        break;
      }
      case "review":
        await runner.abort("replaced");
        runner.spawn(id, (await loadTasks()).reviewTask(op.review_request));
        break;
      case "compact":
        // Like Codex: while a task runs, the summarization request joins it as input instead.
        if (!runner.inject(userInputToMessage([{ type: "text", text: SUMMARIZATION_PROMPT }]))) {
          runner.spawn(id, (await loadTasks()).compactTask);
        }
        break;
      case "override_turn_context":
        settings = applyOverrides(settings, op);
        break;
      case "interrupt":
        await runner.abort("interrupted");
        break;
      case "add_to_history":
        break;
      case "exec_approval":
      case "patch_approval":
        if (!approvals.has(op.id)) {
          // Nothing runs on an answer nobody asked for.
          sink.emit(id, { type: "error", message: `no pending approval with id ${op.id}`, code: "unknown_approval" });
        } else if (op.decision === "abort") {
          await runner.abort("interrupted");
        } else {
          approvals.answer(op.id, op.decision);
        }
        break;
      case "shutdown":
        await runner.abort("interrupted");
        processGroups.killAll();
        await sink.flushed();
        try {
          await recorder.close();
        } catch (error) {
          sink.emit(id, errorEvent(error, "Failed to shutdown rollout recorder: "));
        }
        sink.emit(id, { type: "shutdown_complete" });
        await sink.flushed();
        return "shutdown";
      default:
        sink.emit(id, { type: "error", message: `op "${op.type}" is not supported by llmx yet`, code: "unsupported_op" });
    }
    return "handled";
  };

  for (;;) {
    const next = await Promise.race([submissions.next(), writeFailed]);
    if (next.done) break;
    if ((await handle(next.value)) === "shutdown") return "shutdown";
    // The credit goes back after the events this submission produced (its task_started above all), so a
    // supervisor that has the credit knows whether the submission started a task, even if the worker dies next.
    sink.then(() => io.acknowledge());
  }
  // The supervisor closed the channel without a shutdown: stop quietly, keeping what was recorded.
  await close();
  return "closed";
}

/**
 * The task modules (and through them the model's tools, their argument schemas and delegation) load on the first
 * submission that starts a task: a conversation that only starts pays for none of them.
 */
let tasks: Promise<typeof Tasks> | undefined;
const loadTasks = () => (tasks ??= import("./tasks/all.js"));

/**
 * Once the session is configured, its thread loads what its first turn will need (the tasks with the tools, the
 * model client). Loaded at the first turn instead, many threads whose first turns start together all load and
 * compile it at once: at 300 conversations on two cores that doubled the CPU of their turns and took half again
 * as much wall time (BENCHMARKS.md, section 4). Starts are spaced out by the start gate, so loading here is too.
 * It costs an idle conversation ~0.8 MiB. A failure is left to the turn that needs the code, which reports it.
 */
function preloadTurnCode(model: ModelClient): void {
  loadTasks().catch(() => undefined);
  void model.preload?.();
}

async function openRecorder(
  init: SessionInit,
  userInstructions: string | undefined,
  deps: SessionDeps,
): Promise<SessionRecorder> {
  const { clock } = deps;
  if (init.config.ephemeral === true) return memoryRecorder();
  const io = deps.rolloutIo ? { io: deps.rolloutIo } : {};
  if (init.initialHistory.type === "resumed") {
    return RolloutRecorder.resume({ path: init.initialHistory.rolloutPath, clock, conversationId: init.conversationId, ...io });
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
  return RolloutRecorder.create({ path: init.rolloutPath, meta, clock, ...io });
}

/** A session works in an existing directory; any other cwd is the caller's configuration error. */
function checkCwd(cwd: string): void {
  if (statSync(cwd, { throwIfNoEntry: false })?.isDirectory() !== true) {
    throw new InvalidConfigError(`invalid conversation config: cwd ${cwd} is not an existing directory`, { field: "cwd" });
  }
}

/** What the session writes its rollout lines to: the rollout file, or nothing (an ephemeral session). */
type SessionRecorder = Pick<RolloutRecorder, "path" | "write" | "close">;

/** An ephemeral session's recorder: lines are kept in the session's memory only; there is no file to resume. */
function memoryRecorder(): SessionRecorder {
  return { path: "", write: () => Promise.resolve(), close: () => Promise.resolve() };
}

function environmentDiff(settings: TurnSettings, previous: EnvironmentContext): EnvironmentContext | undefined {
  const diff: EnvironmentContext = {};
  if (settings.cwd !== previous.cwd) diff.cwd = settings.cwd;
  if (settings.approvalPolicy !== previous.approvalPolicy) diff.approvalPolicy = settings.approvalPolicy;
  if (JSON.stringify(settings.sandboxPolicy) !== JSON.stringify(previous.sandboxPolicy)) {
    diff.sandboxPolicy = settings.sandboxPolicy;
  }
  return Object.keys(diff).length === 0 ? undefined : diff;
}
