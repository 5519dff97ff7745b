// Pure wire data: schemas, inferred types and constants. Imports nothing else from llmx. Worker-side code takes
// its helpers from ./plain.js and only types from here, so that a worker does not load zod at start.
export * from "./items.js";
export * from "./events.js";
export * from "./ops.js";
export * from "./policies.js";
export * from "./rollout.js";
export * from "./plain.js";
