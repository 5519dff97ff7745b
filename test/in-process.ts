// A top-level conversation whose session runs on the test's own thread: the real handle and worker link over an
// in-process MessageChannel, with the task run directly instead of on a pool thread. The supervisor's part
// (ending the handle when the worker ends) is played here.
import { Conversation } from "../src/manager/conversation.js";
import type { ThreadFacts, WorkerRuntime } from "../src/manager/runtime.js";
import { WorkerLink } from "../src/manager/worker-link.js";
import type { EventMsgOf } from "../src/protocol/index.js";
import type { SessionInit } from "../src/session/session.js";
import type { ConversationTask } from "../src/session/worker-task.js";
import { systemClock } from "../src/util/clock.js";

export type InProcessConversation = {
  conversation: Conversation;
  link: WorkerLink;
  /** The session's task: resolves when the session ends normally. */
  task: Promise<unknown>;
  sessionConfigured: Promise<EventMsgOf<"session_configured"> | undefined>;
};

/** Runs `run(task)` as the worker would; `run` decides what plays the session (a real one, or the test). */
export function linkConversation(
  init: Pick<SessionInit, "conversationId" | "rolloutPath"> & Partial<SessionInit>,
  run: (task: ConversationTask) => Promise<unknown>,
  threadFacts: () => ThreadFacts = () => ({}),
  eventWindow?: number,
): InProcessConversation {
  let task!: Promise<unknown>;
  const runtime: WorkerRuntime = {
    abortable: false,
    run: (payload) => (task = run(payload)),
    watch: () => undefined,
    factsOf: threadFacts,
    kill: () => undefined,
  };
  const { conversationId, rolloutPath } = init;
  const conversation: Conversation = new Conversation({
    conversationId,
    rolloutPath,
    shutdown: async () => {
      link.stop();
      await link.ended;
      return conversation.ended;
    },
    terminate: () => undefined,
    ...(eventWindow === undefined ? {} : { eventWindow }),
  });
  const link: WorkerLink = new WorkerLink({
    conversationId,
    init: init as SessionInit,
    threads: runtime,
    clock: systemClock,
    sink: conversation,
    onControl: () => undefined,
    ...(eventWindow === undefined ? {} : { eventWindow }),
  });
  conversation.attach({
    submit: (submission) => link.send({ type: "llmx/submission", submission }),
    stop: () => link.stop(),
    credit: (count) => link.send({ type: "llmx/event-credit", count }),
  });
  void link.ended.then((end) => conversation.finish(end.ok ? { ok: true } : { ok: false, error: end.error }));
  return { conversation, link, task, sessionConfigured: link.configured };
}
