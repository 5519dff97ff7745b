// Binds a session to the ports its worker task was handed. The worker entry file only calls this, and tests
// call it directly over in-process MessageChannels.
//
// A conversation's client is whoever submits ops and reads events: the supervisor for a top-level
// conversation, the parent's worker for a sub-agent. Supervision messages (ready, sub-agent requests, ...) go
// to the supervisor; for a top-level conversation both are the same port.
import { threadId, type MessagePort } from "node:worker_threads";
import {
  createFramedPort,
  decodeToWorker,
  type ChildSpawnRequest,
  type FramedPort,
  type FromWorker,
  type ToWorker,
} from "../channel/index.js";
import { deserializeError, serializeError, type SerializedError } from "../errors.js";
import { Conversation } from "../manager/conversation.js";
import type { Submission } from "../protocol/index.js";
import { AsyncQueue } from "../util/async-queue.js";
import { defaultSessionDeps, runSession, type SessionDeps, type SessionInit } from "./session.js";

export type ConversationTask = {
  /** The client's port: submissions in, events out. */
  port: MessagePort;
  /** The supervisor's port, when the client is not the supervisor (sub-agents). */
  supervisorPort?: MessagePort;
  init: SessionInit;
};

export type ConversationTaskResult = { conversationId: string };

/** A child conversation as its parent's worker sees it. */
export type ChildConversation = Conversation;

/** What a session can ask of its supervisor. */
export interface SupervisorLink {
  /** Starts a sub-agent; resolves with a handle whose events come straight from the child's worker. */
  spawnChild(request: ChildSpawnRequest): Promise<ChildConversation>;
  /** Reports a command's process group, so that it does not outlive a worker that dies. */
  trackProcessGroup(pid: number, running: boolean): void;
}

export async function runConversationTask(
  task: ConversationTask,
  deps: SessionDeps = defaultSessionDeps,
): Promise<ConversationTaskResult> {
  const submissions = new AsyncQueue<Submission>();
  const children = createChildRegistry();
  const onMessage = (message: ToWorker): void => {
    switch (message.type) {
      case "llmx/submission":
        submissions.push(message.submission);
        break;
      case "llmx/shutdown":
        submissions.push({ id: "shutdown", op: { type: "shutdown" } });
        break;
      default:
        children.handle(message);
    }
  };
  const client: FramedPort<FromWorker> = createFramedPort<ToWorker, FromWorker>(
    task.port,
    {
      onMessage,
      onBadMessage: (error) =>
        client.send({ type: "llmx/event", event: { id: "", msg: { type: "error", message: `bad frame: ${error.message}` } } }),
      onClose: () => submissions.end(),
    },
    { decode: decodeToWorker },
  );
  const supervisor = task.supervisorPort
    ? createFramedPort<ToWorker, FromWorker>(task.supervisorPort, { onMessage }, { decode: decodeToWorker })
    : client;
  children.bind(supervisor);

  supervisor.send({ type: "llmx/ready", threadId });
  try {
    await runSession(
      task.init,
      {
        submissions,
        deliver: (event) => client.send({ type: "llmx/event", event }),
        acknowledge: () => client.send({ type: "llmx/credit", count: 1 }),
        configured: () => {
          if (supervisor !== client) supervisor.send({ type: "llmx/configured" });
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
    client.close();
    if (supervisor !== client) supervisor.close();
  }
  return { conversationId: task.init.conversationId };
}

/** The worker's side of sub-agent spawning: requests out, ports and end notices in. */
function createChildRegistry() {
  let supervisor: FramedPort<FromWorker> | undefined;
  let nextRequest = 0;
  const requests = new Map<number, { resolve(child: ChildConversation): void; reject(error: Error): void }>();
  const ends = new Map<string, { resolve(): void; reject(error: Error): void }>();

  const link: SupervisorLink = {
    spawnChild(request) {
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
    handle(message: Exclude<ToWorker, { type: "llmx/submission" | "llmx/shutdown" }>) {
      switch (message.type) {
        case "llmx/child-spawned": {
          const pending = requests.get(message.requestId);
          requests.delete(message.requestId);
          const task = new Promise<void>((resolve, reject) => ends.set(message.conversationId, { resolve, reject }));
          const child = new Conversation({
            conversationId: message.conversationId,
            rolloutPath: message.rolloutPath,
            port: message.port,
            task,
            kill: () => supervisor?.send({ type: "llmx/stop-child", conversationId: message.conversationId }),
          });
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
        case "llmx/child-ended": {
          const end = ends.get(message.conversationId);
          ends.delete(message.conversationId);
          if (message.error) end?.reject(deserializeError(message.error as SerializedError));
          else end?.resolve();
          break;
        }
      }
    },
  };
}
