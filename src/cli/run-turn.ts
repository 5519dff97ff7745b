// Runs one prompt through a conversation to the end of its turn, writing what a CLI user sees: the reply (or,
// with --json, the `codex exec --json` event lines), approval prompts on a terminal. An abort signal (Ctrl-C)
// interrupts the turn and waits, for a bounded time, for the session to end it.
import { setTimeout as sleep } from "node:timers/promises";
import type { Conversation, Event, EventMsgOf, Op, ReviewDecision, UserInput } from "../index.js";
import { createExecJsonTranslator } from "./exec-json.js";
import type { TextRenderer } from "./exec-text.js";

export type TurnOutput = {
  json: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Without --json: shows the turn as it happens on stderr. Without it, only errors are shown there. */
  text?: TextRenderer;
  /** Without --json: whether the final answer is written to stdout (default true). */
  answerToStdout?: boolean;
  /** Decides approval requests; without it every request is denied (nobody can be asked). */
  approve?: (request: EventMsgOf<"exec_approval_request">) => Promise<ReviewDecision>;
};

export type TurnControl = {
  /** Aborting it interrupts the turn (the session kills its running command and records `turn_aborted`). */
  signal?: AbortSignal | undefined;
  /** How long an interrupted turn gets to end before `runPrompt` stops waiting for it (default 5 s). */
  interruptGraceMs?: number | undefined;
};

/** `interrupted`: the signal was aborted; the turn was then interrupted, or had ended, or did not end in time. */
export type TurnResult = { lastAgentMessage: string | null; failed: boolean; interrupted: boolean };

export const DEFAULT_INTERRUPT_GRACE_MS = 5_000;
const GAVE_UP = Symbol("gave up");

/**
 * The prompt as text, or as input items (text and images); `turn` makes it a `user_turn` op with these
 * settings (needed for an output schema), otherwise it is sent as `user_input`.
 */
export type PromptInput = string | { items: UserInput[]; turn?: Omit<Extract<Op, { type: "user_turn" }>, "type" | "items"> };

export async function runPrompt(
  conversation: Conversation,
  prompt: PromptInput,
  out: TurnOutput,
  sessionConfigured: Event,
  control: TurnControl = {},
): Promise<TurnResult> {
  const { signal, interruptGraceMs = DEFAULT_INTERRUPT_GRACE_MS } = control;
  const interrupted = () => signal?.aborted === true;
  if (interrupted()) return { lastAgentMessage: null, failed: true, interrupted: true };
  const translate = createExecJsonTranslator();
  const print = (event: Event): void => {
    if (!out.json) {
      out.text?.event(event);
      return;
    }
    for (const line of translate(event)) out.stdout.write(`${JSON.stringify(line)}\n`);
  };
  print(sessionConfigured);
  const input = typeof prompt === "string" ? { items: [{ type: "text" as const, text: prompt }] } : prompt;
  const turnId = await conversation.submit(
    input.turn === undefined ? { type: "user_input", items: input.items } : { type: "user_turn", items: input.items, ...input.turn },
  );
  const interruption = watchInterruption(conversation, signal, interruptGraceMs);
  let failed = false;
  // Subscribed now; unsubscribed when this turn is done, so it never holds the conversation back afterwards.
  const events = conversation.events();
  try {
    for (;;) {
      const next = await Promise.race([events.next(), interruption.gaveUp]);
      if (next === GAVE_UP) return { lastAgentMessage: null, failed: true, interrupted: true };
      if (next.done) break;
      const event = next.value;
      print(event);
      const msg = event.msg;
      switch (msg.type) {
        case "error":
          failed = true;
          if (!out.json && !out.text) out.stderr.write(`error: ${msg.message}\n`);
          break;
        case "stream_error":
          if (!out.json && !out.text) out.stderr.write(`${msg.message}\n`);
          break;
        case "exec_approval_request": {
          // Ctrl-C while the terminal is asking: the interrupt ends the turn, the question goes unanswered.
          const decision = await Promise.race([
            out.approve ? out.approve(msg) : Promise.resolve<ReviewDecision>("denied"),
            interruption.requested.then(() => undefined),
          ]);
          if (decision === undefined) break;
          if (!out.approve && !out.json) out.stderr.write(`denied (no terminal to ask): ${msg.command.join(" ")}\n`);
          await conversation.submit({ type: "exec_approval", id: event.id, decision });
          break;
        }
        case "task_complete":
          if (event.id !== turnId) break;
          out.text?.footer();
          if (!out.json && out.answerToStdout !== false && msg.last_agent_message !== null) {
            out.stdout.write(`${msg.last_agent_message}\n`);
          }
          return { lastAgentMessage: msg.last_agent_message, failed, interrupted: interrupted() };
        case "turn_aborted":
          if (event.id !== turnId) break;
          out.text?.footer();
          return { lastAgentMessage: null, failed: true, interrupted: interrupted() };
          break;
      }
    }
    return { lastAgentMessage: null, failed: true, interrupted: interrupted() };
  } finally {
    interruption.dispose();
    void events.return?.();
  }
}

/**
 * Once `signal` aborts, asks the session to interrupt the running turn (`requested` settles), and after
 * `graceMs` more resolves `gaveUp`: the caller stops waiting for a turn that does not end.
 */
function watchInterruption(conversation: Conversation, signal: AbortSignal | undefined, graceMs: number) {
  const disposed = new AbortController();
  let onAbort = (): void => {};
  const requested = new Promise<void>((resolve) => {
    onAbort = () => {
      void conversation.submit({ type: "interrupt" }).catch(() => undefined);
      resolve();
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
  const gaveUp = requested.then(() =>
    // Disposed first: this race is over, leave it pending.
    sleep(graceMs, GAVE_UP, { signal: disposed.signal }).catch(() => new Promise<never>(() => {})),
  );
  return {
    requested,
    gaveUp,
    dispose() {
      disposed.abort();
      signal?.removeEventListener("abort", onAbort);
    },
  };
}
