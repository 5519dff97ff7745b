// Asks the person at the terminal to decide an approval request.
import { createInterface } from "node:readline";
import type { EventMsgOf, ReviewDecision } from "../index.js";
import { shellJoin } from "./exec-json.js";

const CHOICES: Record<string, ReviewDecision> = {
  y: "approved",
  a: "approved_for_session",
  n: "denied",
  q: "abort",
};

const QUESTION = "[y] yes  [a] yes, for this session  [n] no  [q] no, and stop the turn: ";

/** Keeps asking until the answer is one of the choices; the end of input counts as "no". */
export async function promptForApproval(
  request: EventMsgOf<"exec_approval_request">,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<ReviewDecision> {
  const rl = createInterface({ input, terminal: false });
  // The iterator buffers lines typed ahead of the question, which `question()` would drop.
  const lines = rl[Symbol.asyncIterator]();
  try {
    output.write(`\nllmx wants to run: ${shellJoin(request.command)}\n  in ${request.cwd}\n`);
    if (request.reason) output.write(`  because: ${request.reason}\n`);
    for (;;) {
      output.write(QUESTION);
      const next = await lines.next();
      if (next.done) return "denied";
      const decision = CHOICES[String(next.value).trim().toLowerCase().slice(0, 1)];
      if (decision) return decision;
    }
  } finally {
    rl.close();
  }
}
