// The entry piscina loads. Piscina require()s its entry, and Node 20 aborts the whole process when a thread is
// terminated while it require()s an ES module (a worker killed during its start); so this entry is CommonJS and
// import()s the ES module entry, which a terminated thread abandons safely.
//
// The ES module entry is the build's bundle of ./conversation.worker.ts (`npm run build:workers`, esbuild): one
// file for what a conversation needs to start, plus chunks that load on first use (tasks, tools, providers).
type Entry = { default: (task: never) => Promise<unknown> };

// Not a literal, so that TypeScript does not look for the bundle among the sources.
const BUNDLE: string = "./bundle/conversation.worker.mjs";
let entry: Promise<Entry> | undefined;

export = async function conversationWorker(task: unknown): Promise<unknown> {
  return (await (entry ??= import(BUNDLE) as Promise<Entry>)).default(task as never);
};
