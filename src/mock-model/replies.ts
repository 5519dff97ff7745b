// The mock model's reply rules, shared by both wire APIs. Pure: the server supplies the reply number.
import type { MockTurn } from "./requests.js";

export type MockReply =
  | { kind: "text"; text: string }
  | { kind: "call"; name: string; arguments: string };

/** Marker in the last user message: stream slowly and at length (for interrupt demos). */
export const SLOW_MARKER = "MOCK_SLOW";
/** Marker in the last user message: answer 401 as if the API key were wrong. */
export const UNAUTHORIZED_MARKER = "MOCK_401";
/** A model name the mock does not serve. */
export const UNKNOWN_MODEL = "does-not-exist";

export const SLOW_DELTA_DELAY_MS = 50;

const PLAN_ARGUMENTS = {
  explanation: "mock plan",
  plan: [
    { step: "look", status: "completed" },
    { step: "fix", status: "in_progress" },
  ],
};

export function decideReply(turn: MockTurn, replyNumber: number): MockReply {
  if (turn.toolOutput !== undefined) {
    const lines = toolOutputText(turn.toolOutput).split(/\r?\n/).filter((line) => line.trim() !== "");
    return { kind: "text", text: `Tool said: ${lines.at(-1)?.trim() ?? ""}` };
  }
  const said = turn.lastUserText;
  const delegated = /DELEGATE:([^\r\n]*)/.exec(said);
  if (delegated) {
    return { kind: "call", name: "delegate", arguments: JSON.stringify({ prompt: delegated[1]?.trim() || "say hello" }) };
  }
  // The shell call's arguments exactly as written (any JSON, or not JSON at all): for tests of what a hostile
  // model can send.
  const raw = /SHELLARGS:([^\r\n]*)/.exec(said);
  if (raw) return { kind: "call", name: "shell", arguments: raw[1]?.trim() ?? "" };
  if (said.includes("RUNSHELL")) {
    const command = /RUNSHELL:([^\r\n]*)/.exec(said)?.[1]?.trim() || "echo hi";
    return { kind: "call", name: "shell", arguments: JSON.stringify({ command: ["bash", "-lc", command] }) };
  }
  if (said.includes("PLANIT")) {
    return { kind: "call", name: "update_plan", arguments: JSON.stringify(PLAN_ARGUMENTS) };
  }
  const hello = `Hello from mock, reply #${replyNumber}`;
  if (!said.includes(SLOW_MARKER)) return { kind: "text", text: hello };
  const filler = Array.from({ length: 36 }, (_, i) => `word${i + 1}`).join(" ");
  return { kind: "text", text: `${hello}, streamed slowly: ${filler}` };
}

/** Words with their trailing whitespace, so the deltas join back to the text exactly. */
export function splitWords(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? [];
}

/** Splits a string into `parts` nearly equal non-empty pieces (fewer when it is short). */
export function splitEvenly(text: string, parts: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / parts));
  const pieces: string[] = [];
  for (let at = 0; at < text.length; at += size) pieces.push(text.slice(at, at + size));
  return pieces;
}

export type MockUsage = { input: number; output: number };

export function estimateUsage(turn: MockTurn, reply: MockReply): MockUsage {
  const out = reply.kind === "text" ? reply.text : reply.arguments;
  return { input: Math.ceil(turn.promptChars / 4), output: Math.ceil(out.length / 4) };
}

/** The text of a shell tool's output: Codex's llmx-era tools answer `{"output": ..., "metadata": ...}`. */
function toolOutputText(output: string): string {
  try {
    const parsed = JSON.parse(output) as { output?: unknown } | null;
    if (parsed !== null && typeof parsed === "object" && typeof parsed.output === "string") return parsed.output;
  } catch {
    // Not JSON: plain text output.
  }
  return output;
}
