// Tool-call arguments arrive as a JSON string written by the model; a bad one becomes a message back to the
// model (Codex's wording), never a thrown error. The checks are written by hand (protocol/checks.ts) to keep
// zod out of a thread's turns.
import { ShapeError } from "../protocol/checks.js";

export type ToolArgumentError = { error: string };

/** `read` turns the parsed JSON into the tool's arguments, or throws a ShapeError naming what is wrong. */
export function parseToolArguments<T>(read: (value: unknown) => T, json: string): T | ToolArgumentError {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    return { error: `failed to parse function arguments: ${(error as Error).message}` };
  }
  try {
    return read(value);
  } catch (error) {
    if (error instanceof ShapeError) return { error: `failed to parse function arguments: ${error.message}` };
    throw error;
  }
}

/** Models often send `null` for an optional field they mean to leave out; treat it as absent. */
export function withoutNulls(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== null));
}
