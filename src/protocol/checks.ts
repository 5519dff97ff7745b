// Hand-written checks for JSON that comes from outside (the model's stream, tool arguments) on a worker's turn
// path. zod would do the same, but loading it and building its schemas was a measurable part of a thread's
// first turn (DESIGN.md, "A worker's start"). A failed check throws a ShapeError whose message names the field:
// `content[0].text: expected a string, got 42`.

export type JsonObject = { [key: string]: unknown };

export class ShapeError extends Error {
  override name = "ShapeError";
}

/** What a value is, in words for an error message. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return value.length === 0 ? "an empty array" : "an array";
  switch (typeof value) {
    case "string":
      // Short strings are shown: `status: expected "pending", ..., got "done"`.
      return value.length <= 40 ? JSON.stringify(value) : "a string";
    case "number":
    case "boolean":
      return String(value);
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}

/** `at` is the field's path (`response.usage.input_tokens`); empty for the value itself. */
export function shapeError(at: string, expected: string, value: unknown): ShapeError {
  if (value === undefined) return new ShapeError(at === "" ? `expected ${expected}, got nothing` : `${at} is missing (expected ${expected})`);
  return new ShapeError(`${at === "" ? "" : `${at}: `}expected ${expected}, got ${describeValue(value)}`);
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function object(value: unknown, at: string): JsonObject {
  if (isJsonObject(value)) return value;
  throw shapeError(at, "an object", value);
}

export function array(value: unknown, at: string): unknown[] {
  if (Array.isArray(value)) return value;
  throw shapeError(at, "an array", value);
}

export function string(value: unknown, at: string): string {
  if (typeof value === "string") return value;
  throw shapeError(at, "a string", value);
}

/** A finite number: JSON can spell infinity (`1e999`), which no count or index means. */
export function number(value: unknown, at: string): number {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  throw shapeError(at, "a number", value);
}

/** An error `code`: servers send either. */
export function stringOrNumber(value: unknown, at: string): string | number {
  if (typeof value === "string" || (typeof value === "number" && Number.isFinite(value))) return value;
  throw shapeError(at, "a string or a number", value);
}

export function boolean(value: unknown, at: string): boolean {
  if (typeof value === "boolean") return value;
  throw shapeError(at, "a boolean", value);
}

type Check<T> = (value: unknown, at: string) => T;

/** An absent field reads as undefined; a present one must pass `check` (null included). */
export function optional<T>(value: unknown, at: string, check: Check<T>): T | undefined {
  return value === undefined ? undefined : check(value, at);
}

/** An absent or null field reads as itself; any other value must pass `check`. */
export function nullish<T>(value: unknown, at: string, check: Check<T>): T | null | undefined {
  return value === undefined || value === null ? value : check(value, at);
}

/** Checks every element (`at[0]`, `at[1]`, ...) and returns what `check` made of each. */
export function arrayOf<T>(value: unknown, at: string, check: Check<T>): T[] {
  return array(value, at).map((element, index) => check(element, `${at}[${index}]`));
}
