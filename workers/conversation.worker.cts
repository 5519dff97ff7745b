// The entry piscina loads. Piscina require()s its entry, and Node 20 aborts the whole process when a thread is
// terminated while it require()s an ES module (a worker killed during its start); so this entry is CommonJS and
// import()s the ES module entry, which a terminated thread abandons safely.
export = async function conversationWorker(task: unknown): Promise<unknown> {
  const entry = (await import("./conversation.worker.js")) as { default: (task: never) => Promise<unknown> };
  return entry.default(task as never);
};
