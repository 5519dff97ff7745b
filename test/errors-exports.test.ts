// Keeps the error family in sync with its two lists: every `export class ... extends` in src/errors.ts must be
// exported (as a value) from the package barrel and registered for deserializeError. Adding an error class and
// forgetting either makes this test fail.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as errors from "../src/errors.js";
import * as barrel from "../src/index.js";

const source = readFileSync(new URL("../src/errors.ts", import.meta.url), "utf8");
const declared = [...source.matchAll(/^export\s+(?:abstract\s+)?class\s+(\w+)\s+extends\s/gm)].map((match) => match[1] as string);

type ErrorClass = new (...args: unknown[]) => errors.LlmxError;
const errorsModule = errors as Record<string, unknown>;
const barrelModule = barrel as Record<string, unknown>;

/** Constructs any class of the family; the arguments fit every constructor's parameter types loosely enough. */
const sample = (ErrorClass: ErrorClass): errors.LlmxError =>
  Reflect.construct(ErrorClass, ["01a20000-0000-7000-8000-000000000000", "threw", "what happened"]);

describe("the error family's export list", () => {
  it("finds the classes in src/errors.ts", () => {
    expect(declared).toContain("LlmxError");
    expect(declared).toContain("StreamInterruptedError");
    expect(declared.length).toBeGreaterThan(20);
  });

  it("declares every Error subclass errors.ts exports with `export class ... extends`", () => {
    const exportedClasses = Object.entries(errorsModule)
      .filter(([, value]) => typeof value === "function" && (value as { prototype: unknown }).prototype instanceof Error)
      .map(([name]) => name);
    expect(exportedClasses.sort()).toEqual([...declared].sort());
  });

  it.each(declared)("%s is exported from src/index.ts as the same value", (name) => {
    expect(typeof errorsModule[name]).toBe("function");
    expect(barrelModule[name], `${name} is missing from the export list in src/index.ts`).toBe(errorsModule[name]);
  });

  it.each(declared)("%s survives serializeError/deserializeError as itself, with its code", (name) => {
    const ErrorClass = errorsModule[name] as ErrorClass;
    const original = sample(ErrorClass);
    const copy = errors.deserializeError(structuredClone(errors.serializeError(original)));
    expect(copy, `${name} is missing from ERROR_CLASSES in src/errors.ts`).toBeInstanceOf(ErrorClass);
    expect(Object.getPrototypeOf(copy)).toBe(ErrorClass.prototype);
    expect((copy as errors.LlmxError).code).toBe(original.code);
    expect(copy.name).toBe(name);
    expect(copy.message).toBe(original.message);
  });

  it("gives every class its own code", () => {
    const codes = declared.map((name) => sample(errorsModule[name] as ErrorClass).code);
    expect(new Set(codes).size).toBe(codes.length);
  });
});
