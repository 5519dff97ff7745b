// The import graph is the architecture: layers point one way (protocol <- channel <- worker side: model, tools,
// delegate, session; supervisor side: machines, manager <- app-server <- cli), and there is no import cycle
// anywhere, type imports included. DESIGN.md draws the same graph.
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return name.endsWith(".ts") ? [full] : [];
  });
}

/** Every relative module a file imports or re-exports, type-only ones included, as a path from the root. */
function relativeImports(file: string): string[] {
  const source = readFileSync(file, "utf8");
  const specifiers = [...source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms)].map((m) => m[1] ?? "");
  return specifiers.map((specifier) =>
    path.relative(ROOT, path.resolve(path.dirname(file), specifier.replace(/\.js$/, ".ts"))),
  );
}

const files = ["src", "machines", "workers"].flatMap((dir) => sourceFiles(path.join(ROOT, dir)));
const graph = new Map(files.map((file) => [path.relative(ROOT, file), relativeImports(file)]));

/** The layer a module belongs to, named by its folder (`src/x/...` is `x`; `src/x.ts` is `x`). */
function layer(module: string): string {
  const parts = module.split(path.sep);
  if (parts[0] !== "src") return parts[0] ?? module;
  return (parts[1] ?? "").replace(/\.ts$/, "");
}

const WORKER_SIDE = ["model", "tools", "delegate", "session"];
const SUPERVISOR_SIDE = ["machines", "manager", "app-server", "cli", "index"];

/** What each layer must never import. */
const FORBIDDEN: Record<string, readonly string[]> = {
  protocol: ["channel", "errors", "config", "util", ...WORKER_SIDE, ...SUPERVISOR_SIDE, "rollout"],
  channel: [...WORKER_SIDE, ...SUPERVISOR_SIDE, "rollout"],
  rollout: [...WORKER_SIDE, ...SUPERVISOR_SIDE, "channel"],
  model: ["tools", "delegate", "session", ...SUPERVISOR_SIDE],
  tools: ["delegate", "session", ...SUPERVISOR_SIDE],
  delegate: ["session", "tools", ...SUPERVISOR_SIDE],
  session: SUPERVISOR_SIDE,
  workers: SUPERVISOR_SIDE,
  machines: ["manager", "app-server", "cli", "index", ...WORKER_SIDE],
  manager: ["app-server", "cli", "index"],
  // The app-server sits beside the CLI: it uses the library; only the CLI imports it.
  "app-server": ["cli"],
  index: ["app-server", "cli"],
};

/** Layers only the named layers may import. */
const IMPORTED_ONLY_BY: Record<string, readonly string[]> = {
  "app-server": ["app-server", "cli"],
};

describe("layers", () => {
  test("no module imports a layer above its own", () => {
    const offending = [...graph].flatMap(([file, imports]) =>
      imports
        .filter((target) => (FORBIDDEN[layer(file)] ?? []).includes(layer(target)))
        .map((target) => `${file} -> ${target}`),
    );
    expect(offending).toEqual([]);
  });

  test("only the cli imports the app-server", () => {
    const offending = [...graph].flatMap(([file, imports]) =>
      imports
        .filter((target) => {
          const allowed = IMPORTED_ONLY_BY[layer(target)];
          return allowed !== undefined && !allowed.includes(layer(file));
        })
        .map((target) => `${file} -> ${target}`),
    );
    expect(offending).toEqual([]);
  });

  test("there is no import cycle, type imports included", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const stack: string[] = [];
    const visit = (file: string): void => {
      state.set(file, "visiting");
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (!graph.has(next)) continue;
        if (state.get(next) === "visiting") cycles.push([...stack.slice(stack.indexOf(next)), next].join(" -> "));
        else if (state.get(next) === undefined) visit(next);
      }
      stack.pop();
      state.set(file, "done");
    };
    for (const file of graph.keys()) if (state.get(file) === undefined) visit(file);
    expect(cycles).toEqual([]);
  });

  test("the graph the checks walk is the real one (every relative import resolves to a file)", () => {
    const missing = [...graph].flatMap(([file, imports]) => imports.filter((t) => !graph.has(t)).map((t) => `${file} -> ${t}`));
    expect(missing).toEqual([]);
    expect(graph.size).toBeGreaterThan(50);
  });
});
