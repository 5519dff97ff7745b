// Piscina task entry: one long-lived task per conversation.
import { runConversationTask, type ConversationTask, type WorkerHooks } from "../src/session/worker-task.js";
import { defaultSessionDeps } from "../src/session/session.js";

// zod (loaded only for a review's output and by the rollout decoder on resume) compiles a fast path with
// `new Function` for each schema on its first parse. A thread parses few values per schema, so the compile costs
// more than it saves: run zod without it in workers. zod reads this global when it loads.
(globalThis as { __zod_globalConfig?: { jitless?: boolean } }).__zod_globalConfig ??= { jitless: true };

export default (task: ConversationTask, hooks?: WorkerHooks) => runConversationTask(task, defaultSessionDeps, hooks);
