// The entry piscina loads. It requires the bundle of ./conversation.worker.ts (`npm run build:workers`,
// workers/build/bundle.mjs): CommonJS files, one for what a conversation needs to start and chunks required on
// first use (tasks, tools, providers). Being CommonJS throughout, a thread never sets up Node's ESM loader, and a
// thread terminated during its start is abandoned safely (Node 20 aborts the whole process only when a thread is
// terminated while it require()s an ES module). Every thread loads the bundle as it starts, so an idle thread is
// a ready spare; the warm task (`{warm: true}`) returns at once.
type Entry = { default: (task: never) => Promise<unknown> };

// Not a literal, so that TypeScript does not look for the bundle among the sources.
const BUNDLE: string = "./bundle/conversation.worker.cjs";
let entry: Entry | undefined;
let failure: unknown;
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a build artifact by a computed path, not a module of the sources
  entry = require(BUNDLE) as Entry;
} catch (error) {
  // Reported by the first task that needs the code, not as a failure of an idle thread.
  failure = error;
}

export = async function conversationWorker(task: unknown): Promise<unknown> {
  if (entry === undefined) throw failure;
  if ((task as { warm?: unknown }).warm === true) return undefined;
  return entry.default(task as never);
};
