// Binds a session to the ports its worker task was handed. The worker entry file only calls this, and tests
// call it directly over in-process MessageChannels.
//
// A conversation's client is whoever submits ops and reads events: the supervisor for a top-level
// conversation, the parent's worker for a sub-agent. Supervision messages (ready, heartbeat, sub-agent
// requests, ...) go to the supervisor; for a top-level conversation both are the same port.
import { threadId, type MessagePort } from "node:worker_threads";
import {
  createFramedPort,
  decodeToWorker,
  type ChildSpawnRequest,
  type FramedPort,
  type FromWorker,
  type ToWorker,
} from "../channel/index.js";
import type { SupervisorLink } from "../delegate/child.js";
import { deserializeError, errorEvent, serializeError, type SerializedError } from "../errors.js";
import type { Submission } from "../protocol/index.js";
import { AsyncQueue } from "../util/async-queue.js";
import { PortChildClient } from "./child-client.js";
import { EventOutbox } from "./event-outbox.js";
import { defaultSessionDeps, runSession, type SessionDeps, type SessionEnd, type SessionInit } from "./session.js";

export type ConversationTask = {
  /** The client's port: submissions in, events out. */
  port: MessagePort;
  /** The supervisor's port, when the client is not the supervisor (sub-agents). */
  supervisorPort?: MessagePort;
  init: SessionInit;
  /**
   * Events the client grants at the start (it returns credit as its readers consume); absent, the worker
   * sends without flow control.
   */
  eventWindow?: number;
};

/** What the thread's entry wants to hear of the conversation (workers/conversation.worker.cts). */
export type WorkerHooks = {
  /** A turn ended (its task_complete was delivered): the thread has now run a turn's code. */
  turnCompleted?(): void;
};

export type ConversationTaskResult = { conversationId: string; ended: SessionEnd };

export async function runConversationTask(
  task: ConversationTask,
  deps: SessionDeps = defaultSessionDeps,
  hooks: WorkerHooks = {},
): Promise<ConversationTaskResult> {
  const submissions = new AsyncQueue<Submission>();
  const children = createChildRegistry(deps);
  // Events go to the client under its credit (see event-outbox.ts); `client` is bound below.
  const outbox = new EventOutbox({ send: (message) => client.send(message), window: task.eventWindow });
  /** The supervisor watches this sub-agent's events (manager.watch): each is copied to it. */
  let watched = false;
  const onMessage = (message: ToWorker): void => {
    switch (message.type) {
      case "llmx/submission":
        submissions.push(message.submission);
        break;
      case "llmx/shutdown":
        submissions.push({ id: "shutdown", op: { type: "shutdown" } });
        break;
      case "llmx/ping":
        supervisor.send({ type: "llmx/pong", seq: message.seq });
        break;
      case "llmx/event-credit":
        outbox.grant(message.count);
        break;
      case "llmx/watch":
        watched = message.on;
        break;
      default:
        children.handle(message);
    }
  };
  const client: FramedPort<FromWorker> = createFramedPort<ToWorker, FromWorker>(
    task.port,
    {
      onMessage,
      onBadMessage: (error) => outbox.deliver({ id: "", msg: errorEvent(error, "bad frame: ") }),
      onClose: () => submissions.end(),
    },
    { decode: decodeToWorker },
  );
  const supervisor: FramedPort<FromWorker> = task.supervisorPort
    ? createFramedPort<ToWorker, FromWorker>(task.supervisorPort, { onMessage }, { decode: decodeToWorker })
    : client;
  children.bind(supervisor);

  supervisor.send({ type: "llmx/ready", threadId });
  let ended: SessionEnd;
  try {
    ended = await runSession(
      task.init,
      {
        submissions,
        deliver: (event) => {
          outbox.deliver(event);
          if (event.msg.type === "task_complete") hooks.turnCompleted?.();
          // A copy for the supervisor's read-only watchers; the client's own stream paces the session.
          if (watched && supervisor !== client) supervisor.send({ type: "llmx/watched-event", event });
        },
        // Behind the events before it: the supervisor must see a submission's task_started before its credit.
        acknowledge: () => outbox.message({ type: "llmx/credit", count: 1 }),
        room: (signal) => outbox.room(signal),
        configured: () => {
          if (supervisor !== client) supervisor.send({ type: "llmx/configured" });
          // session_configured leaves now: frames otherwise go at the end of this loop turn, after the turn's
          // code that the session loads next (preloadTurnCode), which would hold a cold start back by that load.
          client.flush();
          supervisor.flush();
        },
        supervisor: children.link,
      },
      deps,
    );
  } catch (error) {
    // Tell the supervisor why before the task's own rejection arrives (it may lose the error's class).
    supervisor.send({ type: "llmx/fatal", error: serializeError(error) });
    throw error;
  } finally {
    // The session is over: what still waits for credit is bounded (deltas coalesced, the rest held back by
    // `room()`), and its client must see the end of the stream.
    outbox.flushAll();
    client.close();
    if (supervisor !== client) supervisor.close();
  }
  return { conversationId: task.init.conversationId, ended };
}

/** The worker's side of sub-agent spawning: requests out, ports and end notices in. */
function createChildRegistry(deps: SessionDeps) {
  let supervisor: FramedPort<FromWorker> | undefined;
  let nextRequest = 0;
  const requests = new Map<number, { resolve(child: PortChildClient): void; reject(error: Error): void }>();
  const live = new Map<string, PortChildClient>();

  const link: SupervisorLink = {
    spawnChild(request: ChildSpawnRequest) {
      const requestId = nextRequest++;
      return new Promise((resolve, reject) => {
        if (supervisor === undefined) return reject(new Error("no supervisor"));
        requests.set(requestId, { resolve, reject });
        supervisor.send({ type: "llmx/spawn-child", requestId, request });
      });
    },
    trackProcessGroup(pid, running) {
      supervisor?.send({ type: "llmx/process-group", pid, running });
    },
  };

  return {
    link,
    bind(port: FramedPort<FromWorker>) {
      supervisor = port;
    },
    handle(message: Exclude<ToWorker, { type: "llmx/submission" | "llmx/shutdown" | "llmx/ping" | "llmx/watch" }>) {
      switch (message.type) {
        case "llmx/child-spawned": {
          const { conversationId } = message;
          const pending = requests.get(message.requestId);
          requests.delete(message.requestId);
          const child = new PortChildClient({
            conversationId,
            rolloutPath: message.rolloutPath,
            port: message.port,
            clock: deps.clock,
            terminate: () => supervisor?.send({ type: "llmx/stop-child", conversationId }),
          });
          live.set(conversationId, child);
          if (pending) pending.resolve(child);
          else child.terminate();
          break;
        }
        case "llmx/child-spawn-failed": {
          const pending = requests.get(message.requestId);
          requests.delete(message.requestId);
          pending?.reject(deserializeError(message.error as SerializedError));
          break;
        }
        case "llmx/child-restarted":
          live.get(message.conversationId)?.restarted(message.port, message.reason, message.restarts);
          break;
        case "llmx/child-ended": {
          const child = live.get(message.conversationId);
          live.delete(message.conversationId);
          child?.end(message.error ? { ok: false, error: deserializeError(message.error as SerializedError) } : { ok: true });
          break;
        }
      }
    },
  };
}
