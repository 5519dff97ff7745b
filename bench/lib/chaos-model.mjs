// The model provider of bench/chaos.ts, loaded inside each conversation's worker through `modelProviderModule`
// (plain JavaScript: workers never load TypeScript). It answers at once with a short message, unless the last
// user message carries a fault marker, `FAULT:<kind>`: then it streams one delta and takes its worker down that
// way. exit: process.exit; throw: an uncaught exception; oom: fills the heap (the manager's resourceLimits
// decide when that ends); hang: spins forever, so only the supervisor's heartbeat watchdog can end it.
import process from "node:process";
import { setImmediate } from "node:timers";
import { setTimeout as sleep } from "node:timers/promises";

const MARKER = /FAULT:(exit|throw|oom|hang)\b/;

function lastUserText(request) {
  const texts = request.input
    .filter((item) => item.type === "message" && item.role === "user")
    .map((item) => item.content.map((part) => part.text ?? "").join(""))
    // The environment context and instructions are user messages too; they start with a tag.
    .filter((text) => !text.startsWith("<"));
  return texts.at(-1) ?? "";
}

export function createModelClient() {
  let responses = 0;
  return {
    contextWindow: () => null,
    async *stream(request, signal) {
      responses += 1;
      const itemId = `msg_chaos_${responses}`;
      const prompt = lastUserText(request);
      const fault = MARKER.exec(prompt)?.[1];
      yield { type: "output_item_added", itemId, kind: "message" };
      if (fault === undefined) {
        const text = `ok: ${prompt}`;
        yield { type: "output_text_delta", itemId, delta: text };
        yield { type: "output_item_done", itemId, item: { type: "message", role: "assistant", content: [{ type: "output_text", text }] } };
        yield { type: "completed", responseId: `resp_chaos_${responses}`, usage: undefined };
        return;
      }
      yield { type: "output_text_delta", itemId, delta: `about to ${fault}` };
      // Mid-turn, once the delta is on its way to the client.
      await sleep(5, undefined, { signal });
      switch (fault) {
        case "exit":
          process.exit(3);
          break;
        case "throw":
          setImmediate(() => {
            throw new Error("chaos model threw");
          });
          break;
        case "oom": {
          const hog = [];
          for (;;) hog.push(new Array(1_000_000).fill(hog.length));
        }
        case "hang":
          for (;;);
      }
      await sleep(60_000, undefined, { signal });
    },
  };
}
