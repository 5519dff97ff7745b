// Pure wire data: schemas, inferred types and constants. Imports nothing else from llmx.
export * from "./items.js";
export * from "./events.js";
export * from "./ops.js";
export * from "./policies.js";
export * from "./rollout.js";
