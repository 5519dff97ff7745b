// Supervision of one conversation. The machine decides; the worker actor it invokes watches the conversation's
// worker and reports what happens to it as events. Tests swap the actor with provide().
import { assign, fromCallback, setup } from "xstate";

export type ConversationState = "spawning" | "awaitingSessionConfigured" | "active" | "removed" | "failed";

/** What the machine watches: when the worker picked the conversation up, and how it ended. */
export type WorkerHandle = {
  ready: Promise<void>;
  ended: Promise<{ ok: true } | { ok: false; error: Error }>;
};

export type ConversationMachineInput = {
  conversationId: string;
  rolloutPath: string;
  parentId?: string | undefined;
  worker: WorkerHandle;
};

export type ConversationMachineContext = ConversationMachineInput & { cause: Error | undefined };

export type ConversationMachineEvent =
  | { type: "worker.ready" }
  | { type: "session.configured" }
  | { type: "session.firstEventInvalid"; error: Error }
  | { type: "worker.exited" }
  | { type: "worker.failed"; error: Error }
  | { type: "remove" };

/** What the worker actor reports to its machine. */
export type WorkerReport = Extract<ConversationMachineEvent, { type: `worker.${string}` }>;

export type WorkerActorInput = { worker: WorkerHandle };

export const conversationMachine = setup({
  types: {
    input: {} as ConversationMachineInput,
    context: {} as ConversationMachineContext,
    events: {} as ConversationMachineEvent,
  },
  actors: {
    // Turns the worker's lifecycle into WorkerReports; stops reporting when the machine leaves `live`.
    worker: fromCallback<ConversationMachineEvent, WorkerActorInput>(({ input, sendBack }) => {
      let watching = true;
      void input.worker.ready.then(() => watching && sendBack({ type: "worker.ready" }));
      void input.worker.ended.then((end) => {
        if (watching) sendBack(end.ok ? { type: "worker.exited" } : { type: "worker.failed", error: end.error });
      });
      return () => {
        watching = false;
      };
    }),
  },
  actions: {
    recordCause: assign({
      cause: ({ event }) =>
        event.type === "worker.failed" || event.type === "session.firstEventInvalid" ? event.error : undefined,
    }),
  },
}).createMachine({
  id: "conversation",
  context: ({ input }) => ({ ...input, cause: undefined }),
  initial: "live",
  states: {
    live: {
      invoke: { src: "worker", input: ({ context }) => ({ worker: context.worker }) },
      initial: "spawning",
      states: {
        spawning: {
          on: { "worker.ready": "awaitingSessionConfigured" },
        },
        awaitingSessionConfigured: {
          on: {
            "session.configured": "active",
            "session.firstEventInvalid": { target: "#conversation.failed", actions: "recordCause" },
          },
        },
        active: {},
      },
      on: {
        "worker.failed": { target: "failed", actions: "recordCause" },
        "worker.exited": "removed",
        remove: "removed",
      },
    },
    removed: { type: "final" },
    failed: { type: "final" },
  },
});

/** Flattens the machine's (possibly nested) state value to one of the five supervision states. */
export function conversationState(value: unknown): ConversationState {
  if (value === "removed" || value === "failed") return value;
  if (typeof value === "object" && value !== null && "live" in value) {
    return (value as { live: ConversationState }).live;
  }
  throw new Error(`unexpected conversation machine state: ${JSON.stringify(value)}`);
}
