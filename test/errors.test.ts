// Errors cross threads as data and come back as the same typed errors.
import { describe, expect, it } from "vitest";
import * as errors from "../src/errors.js";
import { type EventMsgOf, KnownEventMsg } from "../src/protocol/events.js";

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

  it("cuts a cause chain that loops back on itself, or runs too deep, instead of recursing without end", () => {
    const first = new Error("first");
    const second = new Error("second", { cause: first });
    first.cause = second;
    const copy = errors.deserializeError(errors.serializeError(first));
    // The error and 16 causes: the cycle, unrolled that far.
    expect([...errors.errorChain(copy)].map((error) => error.message)).toEqual(Array.from({ length: 17 }, (_, i) => (i % 2 === 0 ? "first" : "second")));
    let deep: Error = new Error("bottom");
    for (let i = 0; i < 10_000; i++) deep = new Error(`level ${i}`, { cause: deep });
    expect([...errors.errorChain(errors.deserializeError(errors.serializeError(deep)))]).toHaveLength(17);
  });
});

describe("errorChain", () => {
  it("yields an error and its causes, outermost first, each once even when the chain is a cycle", () => {
    const inner = new RangeError("inner");
    const outer = new Error("outer", { cause: inner });
    expect([...errors.errorChain(outer)]).toEqual([outer, inner]);
    inner.cause = outer;
    expect([...errors.errorChain(outer)]).toEqual([outer, inner]);
    const self = new Error("self");
    self.cause = self;
    expect([...errors.errorChain(self)]).toEqual([self]);
  });
});

describe("errorEvent", () => {
  it("carries a typed error's message and code, after an optional prefix", () => {
    expect(errors.errorEvent(new errors.SubagentDepthError(2))).toEqual({
      type: "error",
      message: "cannot start a sub-agent: sub-agents may nest at most 2 deep",
      code: "subagent_depth",
    });
    expect(errors.errorEvent(new errors.StreamInterruptedError("stream idle"), "sub-agent failed: ")).toEqual({
      type: "error",
      message: "sub-agent failed: stream idle",
      code: "model_stream_interrupted",
    });
  });

  it("uses a foreign error's errno-style code, else `error`; a thrown non-Error is `thrown_value`", () => {
    const enoent = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
    expect(errors.errorEvent(enoent)).toEqual({ type: "error", message: "ENOENT: no such file", code: "ENOENT" });
    expect(errors.errorEvent(new TypeError("bad"))).toEqual({ type: "error", message: "bad", code: "error" });
    expect(errors.errorEvent(Object.assign(new Error("numeric"), { code: 20 })).code).toBe("error");
    expect(errors.errorEvent("plain string", "x: ")).toEqual({ type: "error", message: "x: plain string", code: "thrown_value" });
  });

  it("gives the same event before and after the error crosses a thread", () => {
    const values = [
      new errors.ModelAuthError("OpenAI", 401, "bad key", true),
      Object.assign(new Error("gone"), { code: "EPIPE" }),
      new RangeError("range"),
      42,
    ];
    for (const value of values) {
      const copy = errors.deserializeError(structuredClone(errors.serializeError(value)));
      expect(errors.errorEvent(copy)).toEqual(errors.errorEvent(value));
      expect(errors.errorCode(copy)).toBe(errors.serializeError(value).code);
    }
  });

  it("is a valid protocol `error` event that keeps its code", () => {
    const event: EventMsgOf<"error"> = errors.errorEvent(new errors.CapacityError(3));
    expect(KnownEventMsg.parse(event)).toEqual({ type: "error", message: event.message, code: "capacity" });
    expect(KnownEventMsg.parse({ type: "error", message: "codex wrote this" })).toEqual({ type: "error", message: "codex wrote this" });
  });
});
