// The entry piscina loads. It loads the bundle of ./conversation.worker.ts (`npm run build:workers`,
// workers/build/bundle.mjs): CommonJS files, one for what a conversation needs to start and chunks required on
// first use (tasks, tools, providers), compiled with V8's code cache shared by the host's threads
// (./code-cache.cts). Being CommonJS throughout, a thread never sets up Node's ESM loader, and a thread
// terminated during its start is abandoned safely (Node 20 aborts the whole process only when a thread is
// terminated while it require()s an ES module). Every thread loads the bundle as it starts, so an idle thread is
// a ready spare; the warm task (`{warm: true}`) returns at once.
import path = require("node:path");
import codeCache = require("./code-cache.cjs");

type Hooks = { turnCompleted(): void };
type Entry = { default: (task: never, hooks: Hooks) => Promise<unknown> };

const loader = new codeCache.BundleLoader(path.join(__dirname, "bundle"));
let entry: Entry | undefined;
let failure: unknown;
try {
  entry = loader.require("conversation.worker.cjs") as Entry;
} catch (error) {
  // Reported by the first task that needs the code, not as a failure of an idle thread.
  failure = error;
}

export = async function conversationWorker(task: unknown): Promise<unknown> {
  if (entry === undefined) throw failure;
  if ((task as { warm?: unknown }).warm === true) return undefined;
  return entry.default(task as never, { turnCompleted: loader.turnCompleted });
};
