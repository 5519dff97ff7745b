// The entry piscina loads. Piscina require()s its entry, and Node 20 aborts the whole process when a thread is
// terminated while it require()s an ES module (a worker killed during its start); so this entry is CommonJS and
// import()s the ES module entry, which a terminated thread abandons safely. Every thread starts loading that code
// as soon as it starts, so an idle thread is a ready spare; the warm task (`{warm: true}`) only waits for it.
type Entry = { default: (task: never) => Promise<unknown> };
const loading = import("./conversation.worker.js") as Promise<Entry>;
// Reported by the first task that needs the code, not as an unhandled rejection of an idle thread.
loading.catch(() => undefined);

export = async function conversationWorker(task: unknown): Promise<unknown> {
  const entry = await loading;
  if ((task as { warm?: unknown }).warm === true) return undefined;
  return entry.default(task as never);
};
