// The session's tasks in one module, which the session imports on first use (see loadTasks in session.ts).
export { compactTask } from "./compact.js";
export { regularTask } from "./regular.js";
export { reviewTask } from "./review.js";
