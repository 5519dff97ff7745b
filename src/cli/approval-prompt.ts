// Asks the person at the terminal to decide an approval request.
import { createInterface } from "node:readline/promises";
import type { EventMsgOf, ReviewDecision } from "../index.js";
import { shellJoin } from "./exec-json.js";

const CHOICES: Record<string, ReviewDecision> = {
  y: "approved",
  a: "approved_for_session",
  n: "denied",
  q: "abort",
};

export async function promptForApproval(
  request: EventMsgOf<"exec_approval_request">,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<ReviewDecision> {
  const rl = createInterface({ input, output, terminal: false });
  try {
    output.write(`\nllmx wants to run: ${shellJoin(request.command)}\n  in ${request.cwd}\n`);
    if (request.reason) output.write(`  because: ${request.reason}\n`);
    for (;;) {
      const answer = (await rl.question("[y] yes  [a] yes, for this session  [n] no  [q] no, and stop the turn: ")).trim().toLowerCase();
      const decision = CHOICES[answer.slice(0, 1)];
      if (decision) return decision;
    }
  } finally {
    rl.close();
  }
}
