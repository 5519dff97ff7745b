// Supervision of one conversation, in OTP's vocabulary on XState. The machine decides; what it invokes acts:
// `startWorker` starts an incarnation of the conversation's worker (the first from the caller's history, every
// later one resumed from the conversation's own rollout), `watchWorker` turns that worker's life into events.
// A crash is handled by the child spec (temporary / transient / permanent) within the restart intensity, with a
// backoff; a worker whose event loop stops answering the heartbeat, or that does not start running in time, is
// killed as `hung`. Every timer comes from
// the actor system's clock, so tests run on simulated time. Tests provide a fake host (no threads).
import { assign, fromCallback, fromPromise, setup } from "xstate";
import { RestartIntensityError } from "../src/errors.js";

export type ConversationState =
  | "spawning"
  | "awaitingSessionConfigured"
  | "active"
  | "restarting"
  | "stopping"
  | "removed"
  | "failed";

import type { RestartType } from "../src/config.js";

export type { RestartType };
/** How long a conversation gets to shut down before it is killed, or kill it at once. */
export type ShutdownSpec = number | "brutal_kill";
export type ExitReason = "threw" | "exited" | "out_of_memory" | "hung" | "killed";

export type ChildSpec = { restart: RestartType; shutdown: ShutdownSpec };
export type RestartIntensity = { maxRestarts: number; periodMs: number };
export type RestartBackoff = { initialMs: number; maxMs: number };

/** How one incarnation of a worker ended. `requested`: it was asked to stop (shutdown), rather than just ending. */
export type WorkerEnd = { ok: true; requested: boolean } | { ok: false; reason: ExitReason; error: Error };

/** One incarnation of a conversation's worker, as the machine sees it. */
export interface WorkerHandle {
  /** Resolves once the worker's task runs (its thread started, its modules loaded): from then on it answers pings. */
  readonly ready: Promise<unknown>;
  /** Resolves once the session announced itself properly; rejects when its first event was anything else. */
  readonly configured: Promise<unknown>;
  readonly ended: Promise<WorkerEnd>;
  /** Asks the session to shut down. */
  stop(): void;
  /** Ends the worker now; its end then carries `reason`. */
  kill(reason: "killed" | "hung"): void;
  /** Sends a heartbeat; `onPong` listeners hear the answer. */
  ping(): void;
  /** Takes in whatever the worker has already sent (a pong among it reaches `onPong` listeners now). */
  drain(): void;
  onPong(listener: () => void): () => void;
}

/** Where incarnations come from: the manager (real threads) or a test. */
export interface WorkerHost {
  /**
   * Incarnation 0 starts from the caller's history; later ones resume from the rollout. `signal` aborts when the
   * machine stops waiting for the start (the conversation was stopped while its start was queued).
   */
  start(incarnation: number, signal: AbortSignal): Promise<WorkerHandle>;
  /** Whether a failure is one a restart would only repeat (a broken rollout, a full disk, a bad config). */
  isPermanentFailure(error: Error): boolean;
}

export type ConversationMachineInput = {
  conversationId: string;
  host: WorkerHost;
  spec: ChildSpec;
  intensity: RestartIntensity;
  backoff: RestartBackoff;
  hangTimeoutMs: number;
  /**
   * How long a new worker gets to start running (a thread found or started, its modules loaded: not yet its own
   * event loop, so not the hang timeout) before it is killed as hung.
   */
  startTimeoutMs: number;
  /** Reads the current time (the same clock the actor system's timers run on). */
  now(): number;
};

export type ConversationMachineContext = ConversationMachineInput & {
  worker: WorkerHandle | undefined;
  incarnation: number;
  /** Whether any incarnation ever got configured: a conversation that never started is not restarted. */
  started: boolean;
  /** When each restart happened (only those inside the intensity period matter). */
  restartTimes: number[];
  restarts: number;
  lastExit: ExitReason | undefined;
  /** Why the conversation failed or last crashed. */
  cause: Error | undefined;
  /** The client asked for this end (shutdown, terminate): nothing is restarted. */
  stopRequested: boolean;
  /** When the stop under way kills the worker (on the machine's clock): the earliest any stop asked for. */
  stopDeadline: number | undefined;
  terminated: boolean;
  /** When the heartbeat probe under way was sent (the machine's clock). */
  probeSentAt: number;
  /** Probes in a row whose deadline the supervisor itself reached late (see `supervisorWasLate`). */
  lateProbes: number;
};

/**
 * A hang deadline the supervisor reached more than half a timeout late proves nothing about the worker: the
 * supervisor's own event loop was starved (a loaded machine, a long GC, every thread of the process stalled
 * behind one big fork), and the worker may have been starved alike. Such a probe is repeated, at most this many
 * times in a row; a worker that stays silent through them is hung.
 */
export const MAX_LATE_PROBES = 3;

export type ConversationMachineEvent =
  | { type: "worker.ready" }
  | { type: "worker.configured" }
  | { type: "worker.firstEventInvalid"; error: Error }
  | { type: "worker.ended"; end: WorkerEnd }
  | { type: "worker.pong" }
  /** Shut down, killing the worker past `timeoutMs` (default: the spec's shutdown). */
  | { type: "stop"; timeoutMs?: number }
  | { type: "terminate" }
  | { type: "remove" };

/** How often a healthy worker is asked for a heartbeat, for a given hang timeout. */
export function heartbeatIntervalMs(hangTimeoutMs: number): number {
  return Math.max(1, Math.min(5_000, Math.floor(hangTimeoutMs / 2)));
}

function recentRestarts(context: ConversationMachineContext): number[] {
  const since = context.now() - context.intensity.periodMs;
  return context.restartTimes.filter((time) => time > since);
}

const machineSetup = setup({
  types: {
    input: {} as ConversationMachineInput,
    context: {} as ConversationMachineContext,
    events: {} as ConversationMachineEvent,
  },
  actors: {
    startWorker: fromPromise<WorkerHandle, { host: WorkerHost; incarnation: number }>(({ input, signal }) =>
      input.host.start(input.incarnation, signal),
    ),
    // Turns one incarnation's life into events; stops reporting when the machine stops watching it.
    watchWorker: fromCallback<ConversationMachineEvent, { worker: WorkerHandle }>(({ input, sendBack }) => {
      let watching = true;
      const report = (event: ConversationMachineEvent): void => {
        if (watching) sendBack(event);
      };
      void input.worker.ready.then(() => report({ type: "worker.ready" }));
      input.worker.configured.then(
        () => report({ type: "worker.configured" }),
        (error: unknown) => report({ type: "worker.firstEventInvalid", error: error as Error }),
      );
      void input.worker.ended.then((end) => report({ type: "worker.ended", end }));
      const unsubscribe = input.worker.onPong(() => report({ type: "worker.pong" }));
      return () => {
        watching = false;
        unsubscribe();
      };
    }),
  },
  delays: {
    hangTimeout: ({ context }) => context.hangTimeoutMs,
    startTimeout: ({ context }) => context.startTimeoutMs,
    heartbeat: ({ context }) => heartbeatIntervalMs(context.hangTimeoutMs),
    shutdownTimeout: ({ context }) => Math.max(0, (context.stopDeadline ?? context.now()) - context.now()),
    backoff: ({ context }) => {
      const attempt = Math.max(0, recentRestarts(context).length - 1);
      return Math.min(context.backoff.maxMs, context.backoff.initialMs * 2 ** attempt);
    },
  },
  guards: {
    supervisorWasLate: ({ context }) =>
      context.lateProbes < MAX_LATE_PROBES && context.now() - context.probeSentAt > context.hangTimeoutMs * 1.5,
    endedAsAsked: ({ context, event }) => {
      if (event.type !== "worker.ended" || !event.end.ok) return false;
      return event.end.requested || context.stopRequested || context.spec.restart !== "permanent";
    },
    mayRestart: ({ context }) => {
      if (context.spec.restart === "temporary" || !context.started || context.stopRequested || context.terminated) {
        return false;
      }
      if (context.cause !== undefined && context.host.isPermanentFailure(context.cause)) return false;
      return recentRestarts(context).length < context.intensity.maxRestarts;
    },
  },
  actions: {
    bindWorker: assign({ worker: ({ event }) => (event as unknown as { output: WorkerHandle }).output }),
    markStarted: assign({ started: true }),
    recordExit: assign(({ event }) => {
      if (event.type !== "worker.ended") return {};
      if (event.end.ok) return { lastExit: "exited" as const, cause: undefined };
      return { lastExit: event.end.reason, cause: event.end.error };
    }),
    recordStartFailure: assign(({ event }) => {
      const error = (event as unknown as { error: unknown }).error;
      return { lastExit: "threw" as const, cause: error instanceof Error ? error : new Error(String(error)) };
    }),
    recordInvalidFirstEvent: assign({
      cause: ({ event }) => (event.type === "worker.firstEventInvalid" ? event.error : undefined),
    }),
    recordRestart: assign(({ context }) => ({
      restartTimes: [...recentRestarts(context), context.now()],
      restarts: context.restarts + 1,
      incarnation: context.incarnation + 1,
      worker: undefined,
    })),
    giveUp: assign(({ context }) => {
      // A crash the spec allows restarting, but past the intensity: say so, keeping the crash as the cause.
      const wanted =
        context.spec.restart !== "temporary" && context.started && !context.stopRequested && !context.terminated;
      if (!wanted || context.cause === undefined || context.host.isPermanentFailure(context.cause)) return {};
      const { maxRestarts, periodMs } = context.intensity;
      return {
        cause: new RestartIntensityError(context.conversationId, maxRestarts, periodMs, { cause: context.cause }),
      };
    }),
    // A later stop never pushes the deadline back (nor asks again): a caller's shorter deadline holds.
    askToStop: assign(({ context, event }) => {
      const spec = context.spec.shutdown === "brutal_kill" ? 0 : context.spec.shutdown;
      const deadline = context.now() + Math.min(spec, (event.type === "stop" ? event.timeoutMs : undefined) ?? spec);
      return { stopRequested: true, stopDeadline: Math.min(deadline, context.stopDeadline ?? deadline) };
    }),
    markTerminated: assign({ terminated: true }),
    stopWorker: ({ context }) => {
      if (context.spec.shutdown === "brutal_kill") context.worker?.kill("killed");
      else context.worker?.stop();
    },
    killWorker: ({ context }) => context.worker?.kill("killed"),
    killHungWorker: ({ context }) => context.worker?.kill("hung"),
    ping: ({ context }) => context.worker?.ping(),
    markProbe: assign({ probeSentAt: ({ context }) => context.now() }),
    countLateProbe: assign({ lateProbes: ({ context }) => context.lateProbes + 1 }),
    clearLateProbes: assign({ lateProbes: 0 }),
    drainWorker: ({ context }) => context.worker?.drain(),
  },
});

/**
 * The heartbeat of a running worker: ping every `heartbeat`; no pong within `hangTimeout` and the worker is
 * hung. Past the deadline, the supervisor's own loop may be what was late (busy, starved): a pong that has
 * already arrived and waits to be read counts, and a deadline reached far too late is probed again.
 */
const heartbeat = {
  initial: "healthy",
  states: {
    healthy: { after: { heartbeat: "probing" } },
    probing: {
      entry: ["markProbe", "ping"],
      on: { "worker.pong": { target: "healthy", actions: "clearLateProbes" } },
      after: { hangTimeout: "confirming" },
    },
    confirming: {
      entry: "drainWorker",
      on: { "worker.pong": { target: "healthy", actions: "clearLateProbes" } },
      after: {
        0: [
          { guard: "supervisorWasLate", target: "probing", actions: "countLateProbe" },
          { target: "#conversation.running.hung" },
        ],
      },
    },
  },
} as const;

export const conversationMachine = machineSetup.createMachine({
  id: "conversation",
  context: ({ input }) => ({
    ...input,
    worker: undefined,
    incarnation: 0,
    started: false,
    restartTimes: [],
    restarts: 0,
    lastExit: undefined,
    cause: undefined,
    stopRequested: false,
    stopDeadline: undefined,
    terminated: false,
    probeSentAt: 0,
    lateProbes: 0,
  }),
  initial: "spawning",
  on: {
    remove: ".removed",
  },
  states: {
    spawning: {
      invoke: {
        src: "startWorker",
        input: ({ context }) => ({ host: context.host, incarnation: context.incarnation }),
        onDone: { target: "running", actions: "bindWorker" },
        onError: { target: "crashed", actions: "recordStartFailure" },
      },
      on: {
        stop: { target: "removed", actions: "askToStop" },
        terminate: { target: "failed", actions: "markTerminated" },
      },
    },
    running: {
      invoke: { src: "watchWorker", input: ({ context }) => ({ worker: context.worker as WorkerHandle }) },
      initial: "awaitingSessionConfigured",
      states: {
        awaitingSessionConfigured: {
          on: {
            "worker.configured": { target: "active", actions: "markStarted" },
            "worker.firstEventInvalid": { target: "#conversation.failed", actions: ["recordInvalidFirstEvent", "killWorker"] },
          },
          initial: "starting",
          states: {
            starting: {
              on: { "worker.ready": "started" },
              after: { startTimeout: "#conversation.running.hung" },
            },
            // Running: its session may take its time to start (a long rollout, a loaded box) while its event loop
            // answers the heartbeat; one that stops answering is hung.
            started: heartbeat,
          },
        },
        active: heartbeat,
        hung: { entry: "killHungWorker" },
        stopping: {
          entry: "stopWorker",
          // Only the deadline is rescheduled by another stop; the worker was asked once.
          on: { stop: { target: ".waiting", actions: "askToStop" } },
          initial: "waiting",
          states: { waiting: { after: { shutdownTimeout: { actions: "killWorker" } } } },
        },
      },
      on: {
        "worker.ended": [
          { guard: "endedAsAsked", target: "removed" },
          { target: "crashed", actions: "recordExit" },
        ],
        stop: { target: ".stopping", actions: "askToStop" },
        terminate: { actions: ["markTerminated", "killWorker"] },
      },
    },
    crashed: {
      always: [
        { guard: "mayRestart", target: "restarting", actions: "recordRestart" },
        { target: "failed", actions: "giveUp" },
      ],
    },
    restarting: {
      after: { backoff: "spawning" },
      on: {
        stop: { target: "removed", actions: "askToStop" },
        terminate: { target: "failed", actions: "markTerminated" },
      },
    },
    removed: { type: "final" },
    failed: { type: "final" },
  },
});

/** Flattens the machine's nested state value to one of the supervision states. */
export function conversationState(value: unknown): ConversationState {
  if (typeof value === "string") {
    if (value === "crashed") return "restarting";
    return value as ConversationState;
  }
  if (typeof value === "object" && value !== null && "running" in value) {
    const running = (value as { running: unknown }).running;
    if (running === "hung") return "active";
    if (typeof running === "string") return running as ConversationState;
    if (typeof running === "object" && running !== null) {
      if ("stopping" in running) return "stopping";
      if ("awaitingSessionConfigured" in running) return "awaitingSessionConfigured";
    }
    return "active";
  }
  throw new Error(`unexpected conversation machine state: ${JSON.stringify(value)}`);
}
