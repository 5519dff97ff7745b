// src/tools is a leaf of the runtime: no import cycles inside it (type imports included), and nothing from the
// session or delegation layers that run it.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const TOOLS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/tools");

/** Every relative module specifier a file imports or re-exports, type-only ones included, resolved to .ts. */
function relativeImports(file: string): string[] {
  const source = readFileSync(file, "utf8");
  const specifiers = [...source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms)].map((m) => m[1] ?? "");
  return specifiers.map((specifier) => path.resolve(path.dirname(file), specifier.replace(/\.js$/, ".ts")));
}

const files = readdirSync(TOOLS)
  .filter((name) => name.endsWith(".ts"))
  .map((name) => path.join(TOOLS, name));
const graph = new Map(files.map((file) => [file, relativeImports(file)]));

describe("src/tools imports", () => {
  test("has no import cycle", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const stack: string[] = [];
    const visit = (file: string): void => {
      state.set(file, "visiting");
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (!graph.has(next)) continue;
        if (state.get(next) === "visiting") {
          cycles.push([...stack.slice(stack.indexOf(next)), next].map((f) => path.basename(f)).join(" -> "));
        } else if (state.get(next) === undefined) visit(next);
      }
      stack.pop();
      state.set(file, "done");
    };
    for (const file of files) if (state.get(file) === undefined) visit(file);
    expect(cycles).toEqual([]);
  });

  test("does not reach into the session or delegation layers", () => {
    const offending = [...graph].flatMap(([file, imports]) =>
      imports
        .filter((target) => /[\\/]src[\\/](session|delegate|manager)[\\/]/.test(target))
        .map((target) => `${path.basename(file)} -> ${path.relative(TOOLS, target)}`),
    );
    expect(offending).toEqual([]);
  });
});
