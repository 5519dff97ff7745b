// Node's built-in modules, loaded when first needed rather than when a module that may need them loads: a worker
// thread's start then pays only for what it uses (DESIGN.md, "A worker's start").
import { createRequire } from "node:module";

const load = createRequire(import.meta.url);

/** A built-in module by name (`node:https`), loaded now if it is not yet. */
export function requireBuiltin<T>(name: `node:${string}`): T {
  return load(name) as T;
}
