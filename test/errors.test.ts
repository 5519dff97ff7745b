// Errors cross threads as data and come back as the same typed errors.
import { describe, expect, it } from "vitest";
import * as errors from "../src/errors.js";

type ErrorClass = new (...args: unknown[]) => errors.LlmxError;
const errorClasses = Object.entries(errors as Record<string, unknown>).filter(
  (entry): entry is [string, ErrorClass] =>
    typeof entry[1] === "function" && (entry[1] as { prototype: unknown }).prototype instanceof errors.LlmxError,
);

describe("serializeError / deserializeError", () => {
  it.each(errorClasses)("%s comes back as itself, with its code, fields and message", (_name, ErrorClass) => {
    const original = Reflect.construct(ErrorClass, ["01a20000-0000-7000-8000-000000000000", "threw", "what happened"]);
    const copy = errors.deserializeError(structuredClone(errors.serializeError(original)));
    expect(copy).toBeInstanceOf(ErrorClass);
    expect(copy).toBeInstanceOf(errors.LlmxError);
    expect(copy).toMatchObject({ name: original.name, code: original.code, message: original.message });
  });

  it("keeps the cause chain, and unknown errors come back as plain Errors with their name and code", () => {
    const cause = Object.assign(new TypeError("low level"), { code: "EPIPE" });
    const copy = errors.deserializeError(errors.serializeError(new errors.InternalAgentDiedError("top", { cause })));
    expect(copy).toBeInstanceOf(errors.InternalAgentDiedError);
    expect(copy.cause).toMatchObject({ name: "TypeError", message: "low level", code: "EPIPE" });
  });
});
