// The entry piscina loads. Piscina require()s its entry, and Node 20 aborts the whole process when a thread is
// terminated while it require()s an ES module (a worker killed during its start); so this entry is CommonJS and
// import()s the ES module entry, which a terminated thread abandons safely.
//
// The ES module entry is the build's bundle of ./conversation.worker.ts (`npm run build:workers`, esbuild): one
// file for what a conversation needs to start, plus chunks that load on first use (tasks, tools, providers).
// Every thread starts loading it as soon as it starts, so an idle thread is a ready spare; the warm task
// (`{warm: true}`) only waits for it.
type Entry = { default: (task: never) => Promise<unknown> };

// Not a literal, so that TypeScript does not look for the bundle among the sources.
const BUNDLE: string = "./bundle/conversation.worker.mjs";
const loading = import(BUNDLE) as Promise<Entry>;
// Reported by the first task that needs the code, not as an unhandled rejection of an idle thread.
loading.catch(() => undefined);

export = async function conversationWorker(task: unknown): Promise<unknown> {
  const entry = await loading;
  if ((task as { warm?: unknown }).warm === true) return undefined;
  return entry.default(task as never);
};
