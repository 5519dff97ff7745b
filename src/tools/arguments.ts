// Tool-call arguments arrive as a JSON string written by the model; a bad one becomes a message back to the
// model (Codex's wording), never a thrown error.
import * as z from "zod";

export type ToolArgumentError = { error: string };

export function parseToolArguments<S extends z.ZodType>(schema: S, json: string): z.infer<S> | ToolArgumentError {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    return { error: `failed to parse function arguments: ${(error as Error).message}` };
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : { error: `failed to parse function arguments: ${z.prettifyError(parsed.error)}` };
}

/** Models often send `null` for an optional field they mean to leave out; treat it as absent. */
export function withoutNulls(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== null));
}
