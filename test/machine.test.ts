// The supervision machine on its own: no threads, a worker handle whose promises the test settles.
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { conversationMachine, conversationState, type WorkerHandle } from "../machines/conversation.machine.js";

function controllableWorker() {
  let ready!: () => void;
  let ended!: (end: { ok: true } | { ok: false; error: Error }) => void;
  const worker: WorkerHandle = {
    ready: new Promise((resolve) => (ready = resolve)),
    ended: new Promise((resolve) => (ended = resolve)),
  };
  return { worker, ready, ended };
}

function start() {
  const control = controllableWorker();
  const actor = createActor(conversationMachine, {
    input: { conversationId: "c1", rolloutPath: "/tmp/c1.jsonl", worker: control.worker },
  });
  const states: string[] = [];
  actor.subscribe((snapshot) => {
    const state = conversationState(snapshot.value);
    if (states.at(-1) !== state) states.push(state);
  });
  actor.start();
  return { actor, states, ...control };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("conversation machine", () => {
  it("goes spawning -> awaitingSessionConfigured -> active -> removed for a conversation that is shut down", async () => {
    const { actor, states, ready, ended } = start();
    ready();
    await settle();
    actor.send({ type: "session.configured" });
    ended({ ok: true });
    await settle();
    expect(states).toEqual(["spawning", "awaitingSessionConfigured", "active", "removed"]);
    expect(actor.getSnapshot().status).toBe("done");
  });

  it("fails with the worker's error as its cause, from any live state", async () => {
    const { actor, states, ready, ended } = start();
    ready();
    await settle();
    const crash = new Error("out of memory");
    ended({ ok: false, error: crash });
    await settle();
    expect(states).toEqual(["spawning", "awaitingSessionConfigured", "failed"]);
    expect(actor.getSnapshot().context.cause).toBe(crash);
  });

  it("fails when the first event is not session_configured, and ignores the worker afterwards", async () => {
    const { actor, states, ready, ended } = start();
    ready();
    await settle();
    const violation = new Error("not first");
    actor.send({ type: "session.firstEventInvalid", error: violation });
    ended({ ok: false, error: new Error("killed") });
    await settle();
    expect(states).toEqual(["spawning", "awaitingSessionConfigured", "failed"]);
    expect(actor.getSnapshot().context.cause).toBe(violation);
  });

  it("is removed when the manager drops it, whatever its worker does next", async () => {
    const { actor, states, ready, ended } = start();
    ready();
    await settle();
    actor.send({ type: "session.configured" });
    actor.send({ type: "remove" });
    ended({ ok: false, error: new Error("late crash") });
    await settle();
    expect(states).toEqual(["spawning", "awaitingSessionConfigured", "active", "removed"]);
    expect(actor.getSnapshot().context.cause).toBeUndefined();
  });
});
