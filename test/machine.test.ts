// The supervision machine on simulated time: no threads, a fake host whose workers the test ends by hand, and a
// ManualClock that drives every timer (backoff, intensity period, heartbeat, shutdown deadline).
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import {
  conversationMachine,
  conversationState,
  heartbeatIntervalMs,
  MAX_LATE_PROBES,
  type ChildSpec,
  type WorkerEnd,
  type WorkerHandle,
  type WorkerHost,
} from "../machines/conversation.machine.js";
import { RestartIntensityError, RolloutError } from "../src/errors.js";
import { ManualClock } from "../src/util/clock.js";

type FakeWorker = WorkerHandle & {
  incarnation: number;
  /** Its task runs: it answers pings from now on. */
  run(): void;
  /** Announces its session (running first, if it was not yet). */
  configure(): void;
  end(end: WorkerEnd): void;
  pong(): void;
  /** A pong that has arrived but waits in the supervisor's inbox: only `drain()` takes it in. */
  pongInInbox(): void;
  pings: number;
  stops: number;
  kills: ("killed" | "hung")[];
};

function fakeWorker(incarnation: number): FakeWorker {
  let run!: () => void;
  let configure!: () => void;
  let end!: (end: WorkerEnd) => void;
  const listeners = new Set<() => void>();
  let inbox = false;
  const worker: FakeWorker = {
    incarnation,
    ready: new Promise<void>((resolve) => (run = resolve)),
    configured: new Promise<void>((resolve) => (configure = resolve)),
    ended: new Promise<WorkerEnd>((resolve) => (end = resolve)),
    run: () => run(),
    configure: () => {
      run();
      configure();
    },
    end: (e) => end(e),
    pong: () => listeners.forEach((listener) => listener()),
    pongInInbox: () => void (inbox = true),
    drain: () => {
      if (!inbox) return;
      inbox = false;
      worker.pong();
    },
    pings: 0,
    stops: 0,
    kills: [],
    stop: () => void worker.stops++,
    kill: (reason) => {
      worker.kills.push(reason);
      // A real kill ends the worker with the reason it was killed for.
      end({ ok: false, reason, error: new Error(`killed: ${reason}`) });
    },
    ping: () => void worker.pings++,
    onPong: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return worker;
}

const HANG_TIMEOUT_MS = 1_000;
const START_TIMEOUT_MS = 5_000;
const settle = () => new Promise((resolve) => setImmediate(resolve));

function supervise(spec: Partial<ChildSpec> = {}, options: { maxRestarts?: number; periodMs?: number } = {}) {
  const clock = new ManualClock(1_000_000);
  const workers: FakeWorker[] = [];
  const host: WorkerHost = {
    start: (incarnation) => {
      const worker = fakeWorker(incarnation);
      workers.push(worker);
      return Promise.resolve(worker);
    },
    isPermanentFailure: (error) => error instanceof RolloutError,
  };
  const actor = createActor(conversationMachine, {
    clock,
    input: {
      conversationId: "c1",
      host,
      spec: { restart: "transient", shutdown: 500, ...spec },
      intensity: { maxRestarts: options.maxRestarts ?? 2, periodMs: options.periodMs ?? 10_000 },
      backoff: { initialMs: 100, maxMs: 400 },
      hangTimeoutMs: HANG_TIMEOUT_MS,
      startTimeoutMs: START_TIMEOUT_MS,
      now: () => clock.now().getTime(),
    },
  });
  const states: string[] = [];
  actor.subscribe((snapshot) => {
    const state = conversationState(snapshot.value);
    if (states.at(-1) !== state) states.push(state);
  });
  actor.start();
  const current = (): FakeWorker => {
    const worker = workers.at(-1);
    if (worker === undefined) throw new Error("no worker started");
    return worker;
  };
  /** Lets promise callbacks run, then moves simulated time. */
  const advance = async (ms: number) => {
    await settle();
    clock.advance(ms);
    await settle();
  };
  const startActive = async () => {
    await settle();
    current().configure();
    await settle();
  };
  const crash = async (reason: "threw" | "exited" | "out_of_memory" = "threw") => {
    current().end({ ok: false, reason, error: new Error(`crash: ${reason}`) });
    await settle();
  };
  return { actor, clock, workers, states, current, advance, startActive, crash, context: () => actor.getSnapshot().context };
}

describe("conversation machine: lifecycle", () => {
  it("goes spawning -> awaitingSessionConfigured -> active -> stopping -> removed when it is shut down", async () => {
    const s = supervise();
    await s.startActive();
    s.actor.send({ type: "stop" });
    expect(s.current().stops).toBe(1);
    s.current().end({ ok: true, requested: true });
    await settle();
    expect(s.states).toEqual(["spawning", "awaitingSessionConfigured", "active", "stopping", "removed"]);
    expect(s.actor.getSnapshot().status).toBe("done");
  });

  it("fails, without restarting, when the first event is not session_configured", async () => {
    const s = supervise({ restart: "permanent" });
    await settle();
    const violation = new Error("not first");
    s.actor.send({ type: "worker.firstEventInvalid", error: violation });
    await s.advance(10_000);
    expect(s.states).toEqual(["spawning", "awaitingSessionConfigured", "failed"]);
    expect(s.context().cause).toBe(violation);
    expect(s.workers).toHaveLength(1);
  });

  it("a conversation that crashes before it ever started is not restarted", async () => {
    const s = supervise();
    await settle();
    await s.crash();
    await s.advance(10_000);
    expect(s.states.at(-1)).toBe("failed");
    expect(s.workers).toHaveLength(1);
  });

  it("is removed when the manager drops it, whatever its worker does next", async () => {
    const s = supervise();
    await s.startActive();
    s.actor.send({ type: "remove" });
    await s.crash();
    await s.advance(10_000);
    expect(s.states).toEqual(["spawning", "awaitingSessionConfigured", "active", "removed"]);
    expect(s.workers).toHaveLength(1);
  });
});

describe("conversation machine: restarts", () => {
  it("restarts a transient conversation after a crash, from a new incarnation, after the backoff", async () => {
    const s = supervise();
    await s.startActive();
    await s.crash("out_of_memory");
    expect(conversationState(s.actor.getSnapshot().value)).toBe("restarting");
    expect(s.context()).toMatchObject({ restarts: 1, lastExit: "out_of_memory" });

    await s.advance(99);
    expect(s.workers).toHaveLength(1);
    await s.advance(1);
    expect(s.workers.map((w) => w.incarnation)).toEqual([0, 1]);
    await s.startActive();
    expect(s.states).toEqual(["spawning", "awaitingSessionConfigured", "active", "restarting", "spawning", "awaitingSessionConfigured", "active"]);
  });

  it("doubles the backoff with each recent restart, up to its maximum", async () => {
    const s = supervise({}, { maxRestarts: 10 });
    await s.startActive();
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      await s.crash();
      const before = s.workers.length;
      let waited = 0;
      while (s.workers.length === before) {
        await s.advance(50);
        waited += 50;
      }
      waits.push(waited);
      await s.startActive();
    }
    expect(waits).toEqual([100, 200, 400, 400]);
  });

  it("gives up past the intensity: the conversation fails with RestartIntensityError carrying the last crash", async () => {
    const s = supervise({}, { maxRestarts: 2, periodMs: 10_000 });
    await s.startActive();
    for (let i = 0; i < 2; i++) {
      await s.crash();
      await s.advance(1_000);
      await s.startActive();
    }
    await s.crash("exited");
    expect(s.states.at(-1)).toBe("failed");
    const cause = s.context().cause;
    expect(cause).toBeInstanceOf(RestartIntensityError);
    expect((cause as Error).cause).toMatchObject({ message: "crash: exited" });
    expect(s.workers).toHaveLength(3);
  });

  it("counts only the restarts inside the period", async () => {
    const s = supervise({}, { maxRestarts: 1, periodMs: 5_000 });
    await s.startActive();
    for (let i = 0; i < 3; i++) {
      await s.crash();
      await s.advance(6_000);
      await s.startActive();
    }
    expect(s.context().restarts).toBe(3);
    expect(conversationState(s.actor.getSnapshot().value)).toBe("active");
  });

  it("never restarts a temporary conversation", async () => {
    const s = supervise({ restart: "temporary" });
    await s.startActive();
    await s.crash();
    await s.advance(10_000);
    expect(s.states.at(-1)).toBe("failed");
    expect(s.workers).toHaveLength(1);
  });

  it("does not restart into a failure a restart would repeat (a broken rollout)", async () => {
    const s = supervise({ restart: "permanent" });
    await s.startActive();
    s.current().end({ ok: false, reason: "threw", error: new RolloutError("/r.jsonl", "cannot write rollout file") });
    await s.advance(10_000);
    expect(s.states.at(-1)).toBe("failed");
    expect(s.context().cause).toBeInstanceOf(RolloutError);
  });

  it("restarts a permanent conversation whose worker ended without being asked to; a transient one is removed", async () => {
    const permanent = supervise({ restart: "permanent" });
    await permanent.startActive();
    permanent.current().end({ ok: true, requested: false });
    await permanent.advance(100);
    expect(permanent.workers).toHaveLength(2);

    const transient = supervise({ restart: "transient" });
    await transient.startActive();
    transient.current().end({ ok: true, requested: false });
    await transient.advance(100);
    expect(transient.states.at(-1)).toBe("removed");
  });

  it("a terminated conversation is not restarted", async () => {
    const s = supervise({ restart: "permanent" });
    await s.startActive();
    s.actor.send({ type: "terminate" });
    await s.advance(10_000);
    expect(s.current().kills).toEqual(["killed"]);
    expect(s.states.at(-1)).toBe("failed");
    expect(s.workers).toHaveLength(1);
  });

  it("a stop during the backoff removes the conversation without starting another worker", async () => {
    const s = supervise();
    await s.startActive();
    await s.crash();
    s.actor.send({ type: "stop" });
    await s.advance(10_000);
    expect(s.states.at(-1)).toBe("removed");
    expect(s.workers).toHaveLength(1);
  });
});

describe("conversation machine: heartbeat", () => {
  it("pings an active worker and stays active while it answers", async () => {
    const s = supervise();
    await s.startActive();
    for (let i = 0; i < 5; i++) {
      await s.advance(heartbeatIntervalMs(HANG_TIMEOUT_MS));
      expect(s.current().pings).toBe(i + 1);
      s.current().pong();
      await settle();
    }
    await s.advance(HANG_TIMEOUT_MS / 2);
    expect(s.current().kills).toEqual([]);
    expect(conversationState(s.actor.getSnapshot().value)).toBe("active");
  });

  it("kills a worker silent past the hang timeout as hung, and restarts it", async () => {
    const s = supervise();
    await s.startActive();
    await s.advance(heartbeatIntervalMs(HANG_TIMEOUT_MS));
    await s.advance(HANG_TIMEOUT_MS - 1);
    expect(s.current().kills).toEqual([]);
    await s.advance(1);
    expect(s.workers[0]?.kills).toEqual(["hung"]);
    expect(s.context().lastExit).toBe("hung");
    await s.advance(100);
    expect(s.workers).toHaveLength(2);
  });

  it("a pong that arrived before the deadline but was not read yet (the supervisor was busy) counts", async () => {
    const s = supervise();
    await s.startActive();
    await s.advance(heartbeatIntervalMs(HANG_TIMEOUT_MS));
    s.current().pongInInbox();
    await s.advance(HANG_TIMEOUT_MS);
    expect(s.current().kills).toEqual([]);
    expect(conversationState(s.actor.getSnapshot().value)).toBe("active");
    // It is still watched: silent from then on, it is killed.
    await s.advance(heartbeatIntervalMs(HANG_TIMEOUT_MS) + HANG_TIMEOUT_MS);
    expect(s.current().kills).toEqual(["hung"]);
  });

  it("a hang deadline the supervisor itself reached far too late is probed again, a bounded number of times", async () => {
    const s = supervise();
    await s.startActive();
    await s.advance(heartbeatIntervalMs(HANG_TIMEOUT_MS));
    const pings = s.current().pings;
    // The supervisor's loop was blocked for two timeouts: its deadline fires late, and the worker gets another probe.
    s.clock.stall(2 * HANG_TIMEOUT_MS);
    await s.advance(0);
    expect(s.current().kills).toEqual([]);
    expect(s.current().pings).toBe(pings + 1);
    // Answering clears it.
    s.current().pong();
    await s.advance(0);
    expect(conversationState(s.actor.getSnapshot().value)).toBe("active");
    // A worker that stays silent while the supervisor is late again and again is hung after MAX_LATE_PROBES.
    await s.advance(heartbeatIntervalMs(HANG_TIMEOUT_MS));
    for (let i = 0; i < MAX_LATE_PROBES; i++) {
      s.clock.stall(2 * HANG_TIMEOUT_MS);
      await s.advance(0);
      expect(s.current().kills).toEqual([]);
    }
    s.clock.stall(2 * HANG_TIMEOUT_MS);
    await s.advance(0);
    expect(s.current().kills).toEqual(["hung"]);
  });

  it("kills a running worker that stops answering before it announces itself", async () => {
    const s = supervise();
    await s.advance(HANG_TIMEOUT_MS / 2);
    s.current().run();
    await s.advance(heartbeatIntervalMs(HANG_TIMEOUT_MS));
    await s.advance(HANG_TIMEOUT_MS - 1);
    expect(s.current().kills).toEqual([]);
    await s.advance(1);
    expect(s.workers[0]?.kills).toEqual(["hung"]);
    expect(s.states.at(-1)).toBe("failed");
  });

  it("lets a session take its time to announce itself while its worker answers the heartbeat", async () => {
    const s = supervise();
    s.current().run();
    for (let i = 0; i < 10; i++) {
      await s.advance(heartbeatIntervalMs(HANG_TIMEOUT_MS));
      s.current().pong();
      await settle();
    }
    expect(s.current().kills).toEqual([]);
    expect(conversationState(s.actor.getSnapshot().value)).toBe("awaitingSessionConfigured");
    s.current().configure();
    await settle();
    expect(conversationState(s.actor.getSnapshot().value)).toBe("active");
  });

  it("gives a worker whose thread is still starting the start timeout, not the hang timeout", async () => {
    const s = supervise();
    await s.advance(START_TIMEOUT_MS - 1);
    expect(s.current().kills).toEqual([]);
    expect(s.states.at(-1)).toBe("awaitingSessionConfigured");
    await s.advance(1);
    expect(s.workers[0]?.kills).toEqual(["hung"]);
    expect(s.states.at(-1)).toBe("failed");
  });

  it("a worker that started slowly is watched by the heartbeat once its session is announced", async () => {
    const s = supervise();
    await s.advance(START_TIMEOUT_MS - 1);
    await s.startActive();
    await s.advance(heartbeatIntervalMs(HANG_TIMEOUT_MS) + HANG_TIMEOUT_MS);
    expect(s.current().kills).toEqual(["hung"]);
  });
});

describe("conversation machine: shutdown", () => {
  it("kills a worker that does not stop within the shutdown deadline", async () => {
    const s = supervise({ shutdown: 500 });
    await s.startActive();
    s.actor.send({ type: "stop" });
    await s.advance(499);
    expect(s.current().kills).toEqual([]);
    await s.advance(1);
    expect(s.current().kills).toEqual(["killed"]);
    expect(s.states.at(-1)).toBe("failed");
  });

  it("a stop with a shorter deadline than the spec's keeps the shorter one", async () => {
    const s = supervise({ shutdown: 5_000 });
    await s.startActive();
    s.actor.send({ type: "stop", timeoutMs: 100 });
    await s.advance(100);
    expect(s.current().kills).toEqual(["killed"]);
  });

  it("a second stop asks the worker nothing more and never pushes the deadline back", async () => {
    const s = supervise({ shutdown: 5_000 });
    await s.startActive();
    s.actor.send({ type: "stop", timeoutMs: 100 });
    await s.advance(50);
    s.actor.send({ type: "stop", timeoutMs: 5_000 });
    s.actor.send({ type: "stop" });
    await s.advance(49);
    expect(s.current()).toMatchObject({ stops: 1, kills: [] });
    await s.advance(1);
    expect(s.current().kills).toEqual(["killed"]);
    expect(s.states).toEqual(["spawning", "awaitingSessionConfigured", "active", "stopping", "failed"]);
  });

  it("a second stop with a shorter deadline brings the kill forward", async () => {
    const s = supervise({ shutdown: 5_000 });
    await s.startActive();
    s.actor.send({ type: "stop" });
    await s.advance(1_000);
    s.actor.send({ type: "stop", timeoutMs: 100 });
    await s.advance(99);
    expect(s.current()).toMatchObject({ stops: 1, kills: [] });
    await s.advance(1);
    expect(s.current().kills).toEqual(["killed"]);
  });

  it("brutal_kill kills at once instead of asking", async () => {
    const s = supervise({ shutdown: "brutal_kill" });
    await s.startActive();
    s.actor.send({ type: "stop" });
    await settle();
    expect(s.current()).toMatchObject({ stops: 0, kills: ["killed"] });
    expect(s.workers).toHaveLength(1);
  });
});
