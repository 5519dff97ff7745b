// The built-in offline model: deterministic, no network, no key. It streams its reply word by word so that
// everything downstream (deltas, persistence, interrupt) is exercised exactly as with a real provider.
import { setTimeout as sleep } from "node:timers/promises";
import type { MessageItem, ResponseItem, TokenUsage } from "../protocol/index.js";
import { isUserMessage, userMessageText } from "../rollout/classify.js";
import type { ModelClient, ModelRequest, ModelStreamEvent } from "./types.js";

export type OfflineModelOptions = {
  /** Pause between deltas, to make turns last long enough to interrupt. Default 0 (yield to the loop only). */
  deltaDelayMs?: number;
  /** Repeats the reply this many times, for long streams. Default 1. */
  repeat?: number;
};

export const OFFLINE_CONTEXT_WINDOW = 128_000;

export function createOfflineModel(options: OfflineModelOptions = {}): ModelClient {
  const delay = options.deltaDelayMs ?? 0;
  const repeat = Math.max(1, options.repeat ?? 1);
  let responses = 0;
  return {
    contextWindow: () => OFFLINE_CONTEXT_WINDOW,
    async *stream(request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelStreamEvent> {
      signal.throwIfAborted();
      responses += 1;
      const userMessages = request.input.filter(isUserMessage) as MessageItem[];
      const last = userMessages.at(-1);
      const said = last === undefined ? "" : userMessageText(last).trim();
      const base = `Offline reply #${userMessages.length}: you said "${said}".`;
      const text = Array.from({ length: repeat }, () => base).join(" ");
      const itemId = `msg_offline_${responses}`;
      yield { type: "output_item_added", itemId, kind: "message" };
      for (const delta of splitWords(text)) {
        // A real stream waits on the network between chunks; never monopolise the worker's event loop.
        await sleep(delay, undefined, { signal });
        yield { type: "output_text_delta", itemId, delta };
      }
      const item: ResponseItem = { type: "message", role: "assistant", content: [{ type: "output_text", text }] };
      yield { type: "output_item_done", itemId, item };
      yield { type: "completed", responseId: `resp_offline_${responses}`, usage: estimateUsage(request, text) };
    },
  };
}

/** Words with their trailing space, so the deltas concatenate back to the text exactly. */
function splitWords(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}

function estimateUsage(request: ModelRequest, output: string): TokenUsage {
  const chars = request.instructions.length + JSON.stringify(request.input).length;
  const input_tokens = Math.ceil(chars / 4);
  const output_tokens = Math.ceil(output.length / 4);
  return {
    input_tokens,
    cached_input_tokens: 0,
    output_tokens,
    reasoning_output_tokens: 0,
    total_tokens: input_tokens + output_tokens,
  };
}
