// The protocol's plain helpers: functions and constants over the wire types that need no schema. Kept apart from
// the zod schemas so that a worker thread can use them without loading zod at start.
import type { ContentItem, MessageItem, UserInput } from "./items.js";
import type { Event, EventMsgOf } from "./events.js";
import type { SandboxMode, SandboxPolicy } from "./policies.js";

/** The id carried by every event emitted while a session is being constructed. */
export const INITIAL_SUBMIT_ID = "";

/** Codex's rule for a new session: its first event is `session_configured` under the initial id. */
export function isSessionConfiguredFirst(event: Event): event is { id: ""; msg: EventMsgOf<"session_configured"> } {
  return event.id === INITIAL_SUBMIT_ID && event.msg.type === "session_configured";
}

export function sandboxMode(policy: SandboxPolicy): SandboxMode | "external-sandbox" {
  const tagged = policy as { mode?: SandboxMode; type?: SandboxMode | "external-sandbox" };
  return tagged.mode ?? tagged.type ?? "read-only";
}

export function userInputToMessage(items: readonly UserInput[]): MessageItem {
  return {
    type: "message",
    role: "user",
    content: items.map((input): ContentItem => {
      switch (input.type) {
        case "text":
          return { type: "input_text", text: input.text };
        case "image":
          return { type: "input_image", image_url: input.image_url };
        case "local_image":
          // Image encoding arrives with real providers; until then the model is told what was attached.
          return { type: "input_text", text: `[local image: ${input.path}]` };
      }
    }),
  };
}
