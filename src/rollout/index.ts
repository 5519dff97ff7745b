// The rollout module: naming, persistence policy, the writer, the reader, listing and history transforms.
export * from "./paths.js";
export * from "./policy.js";
export * from "./line.js";
export * from "./recorder.js";
export * from "./lock.js";
export * from "./guard.js";
export * from "./reader.js";
export * from "./classify.js";
export * from "./truncate.js";
export * from "./reconstruct.js";
export * from "./list.js";
