// Binds a session to the MessagePort its worker task was handed. The worker entry file only calls this,
// and tests call it directly over an in-process MessageChannel.
import type { MessagePort } from "node:worker_threads";
import { createFramedPort, decodeToWorker, type FromWorker, type ToWorker } from "../channel/index.js";
import { serializeError } from "../errors.js";
import type { Submission } from "../protocol/index.js";
import { AsyncQueue } from "../util/async-queue.js";
import { defaultSessionDeps, runSession, type SessionDeps, type SessionInit } from "./session.js";

export type ConversationTask = { port: MessagePort; init: SessionInit };

export type ConversationTaskResult = { conversationId: string };

export async function runConversationTask(
  task: ConversationTask,
  deps: SessionDeps = defaultSessionDeps,
): Promise<ConversationTaskResult> {
  const submissions = new AsyncQueue<Submission>();
  const port = createFramedPort<ToWorker, FromWorker>(
    task.port,
    {
      onMessage: (message) => submissions.push(message.submission),
      onBadMessage: (error) =>
        port.send({ type: "llmx/event", event: { id: "", msg: { type: "error", message: `bad frame: ${error.message}` } } }),
      onClose: () => submissions.end(),
    },
    { decode: decodeToWorker },
  );
  port.send({ type: "llmx/ready" });
  try {
    await runSession(
      task.init,
      {
        submissions,
        deliver: (event) => port.send({ type: "llmx/event", event }),
        acknowledge: () => port.send({ type: "llmx/credit", count: 1 }),
      },
      deps,
    );
  } catch (error) {
    // Tell the supervisor why before the task's own rejection arrives (it may lose the error's class).
    port.send({ type: "llmx/fatal", error: serializeError(error) });
    throw error;
  } finally {
    port.close();
  }
  return { conversationId: task.init.conversationId };
}
