// The worker code's loader and the V8 code caches its threads share (workers/code-cache.cts, compiled into
// dist/workers by `npm run build`, which `npm test` runs first): files load as `require` would load them, a
// thread started after another compiles from that thread's caches, and a cache is never used for other source.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, getEnvironmentData } from "node:worker_threads";
import { describe, expect, test } from "vitest";
import { CODE_CACHE_KEY } from "../src/manager/pool.js";
import { runTurn, types, useMockModel, useRuntime } from "./helpers.js";

const COMPILED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist/workers/code-cache.cjs");

type Stats = { cached: number; compiled: number; rejected: number; published: number };
type Kind = 1 | 2;
type Store = {
  find(key: Uint8Array, kind?: Kind): Buffer | undefined;
  publish(key: Uint8Array, data: Uint8Array, kind: Kind): boolean;
  records(): { loaded: number; turn: number };
  usedBytes: number;
};
const codeCache = createRequire(import.meta.url)(COMPILED) as { CodeCacheStore: new (buffer: SharedArrayBuffer) => Store; LOADED: Kind; TURN: Kind };
const { LOADED, TURN } = codeCache;

/**
 * A bundle of three files: a cycle (b requires a while a loads), a built-in, and an `import()` of an ES module
 * (written `__llmxImport(...)` in a bundle, see workers/build/bundle.mjs).
 */
function fixtureBundle(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "llmx-code-cache-"));
  writeFileSync(
    path.join(dir, "a.cjs"),
    [
      'module.exports = { name: "a" };',
      'const b = require("./b.cjs");',
      "module.exports.sum = () => b.value() + 1;",
      "module.exports.partner = b.partnerName;",
      'module.exports.base = require("node:path").basename(__filename);',
      'module.exports.esm = () => __llmxImport(require("node:url").pathToFileURL(require("node:path").join(__dirname, "c.mjs")).href);',
      "",
    ].join("\n"),
  );
  writeFileSync(path.join(dir, "b.cjs"), 'const a = require("./a.cjs");\nexports.partnerName = a.name;\nexports.value = () => 41;\n');
  writeFileSync(path.join(dir, "c.mjs"), "export const seven = 7;\n");
  writeFileSync(path.join(dir, "e.cjs"), 'exports.self = this === module.exports;\nexports.fail = () => { throw new Error("e"); };\n');
  return dir;
}

type Report = { sum: number; partner: string; base: string; seven: number; stats: Stats; usedBytes: number };

/** Loads the fixture in a new thread with `buffer` as its store; `turn` also reports a turn completed. */
function loadInThread(dir: string, buffer: SharedArrayBuffer, turn = false): Promise<Report> {
  const source = `
    const { workerData, parentPort } = require("node:worker_threads");
    const { CodeCacheStore, BundleLoader } = require(workerData.compiled);
    const store = new CodeCacheStore(workerData.buffer);
    const loader = new BundleLoader(workerData.dir, store);
    const a = loader.require("a.cjs");
    a.esm().then((c) => {
      if (workerData.turn) loader.turnCompleted();
      parentPort.postMessage({ sum: a.sum(), partner: a.partner, base: a.base, seven: c.seven, stats: loader.stats, usedBytes: store.usedBytes });
    });`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData: { compiled: COMPILED, dir, buffer, turn } });
    worker.once("message", (report: Report) => {
      resolve(report);
      void worker.terminate();
    });
    worker.once("error", reject);
  });
}

describe("the worker code's loader", () => {
  test("loads files as require does: sibling requires, a cycle seeing the exports set so far, built-ins, import()", async () => {
    const report = await loadInThread(fixtureBundle(), new SharedArrayBuffer(1 << 20));
    expect(report).toMatchObject({ sum: 42, partner: "a", base: "a.cjs", seven: 7 });
    expect(report.stats).toEqual({ cached: 0, compiled: 2, rejected: 0, published: 2 });
  });

  test("a file runs with this = module.exports, and its stack traces point where Node's require would", async () => {
    const dir = fixtureBundle();
    const source = `
      const { workerData, parentPort } = require("node:worker_threads");
      const { CodeCacheStore, BundleLoader } = require(workerData.compiled);
      const e = new BundleLoader(workerData.dir, new CodeCacheStore(workerData.buffer)).require("e.cjs");
      const where = (fail) => { try { fail(); } catch (error) { return error.stack.split("\\n")[1].trim(); } };
      parentPort.postMessage({ self: e.self, loader: where(e.fail), node: where(require(workerData.dir + "/e.cjs").fail) });`;
    const report = await new Promise<{ self: boolean; loader: string; node: string }>((resolve, reject) => {
      const worker = new Worker(source, { eval: true, workerData: { compiled: COMPILED, dir, buffer: new SharedArrayBuffer(1 << 16) } });
      worker.once("message", (message) => resolve(message as never));
      worker.once("error", reject);
    });
    expect(report.self).toBe(true);
    expect(report.loader).toMatch(/e\.cjs:2:\d+\)?$/);
    expect(report.loader.slice(report.loader.indexOf("e.cjs"))).toBe(report.node.slice(report.node.indexOf("e.cjs")));
  });

  test("a thread started after another compiles from the caches it published", async () => {
    const dir = fixtureBundle();
    const buffer = new SharedArrayBuffer(1 << 20);
    await loadInThread(dir, buffer);
    const second = await loadInThread(dir, buffer);
    expect(second).toMatchObject({ sum: 42, partner: "a", seven: 7 });
    expect(second.stats).toEqual({ cached: 2, compiled: 0, rejected: 0, published: 0 });
  });

  test("a file changed since its cache was made (same length, same name) is compiled from its new source", async () => {
    const dir = fixtureBundle();
    const buffer = new SharedArrayBuffer(1 << 20);
    await loadInThread(dir, buffer);
    const file = path.join(dir, "b.cjs");
    const before = readFileSync(file, "utf8");
    writeFileSync(file, before.replace("=> 41", "=> 51"));
    expect(readFileSync(file, "utf8")).toHaveLength(before.length);
    const after = await loadInThread(dir, buffer);
    expect(after.sum).toBe(52);
    expect(after.stats).toEqual({ cached: 1, compiled: 1, rejected: 0, published: 1 });
  });

  test("the first thread to finish a turn publishes its files once more; no other thread does", async () => {
    const dir = fixtureBundle();
    const buffer = new SharedArrayBuffer(1 << 20);
    const first = await loadInThread(dir, buffer, true);
    expect(first.stats.published).toBe(4);
    const second = await loadInThread(dir, buffer, true);
    expect(second.stats).toEqual({ cached: 2, compiled: 0, rejected: 0, published: 0 });
    expect(second.usedBytes).toBe(first.usedBytes);
    expect(new codeCache.CodeCacheStore(buffer).records()).toEqual({ loaded: 2, turn: 2 });
  });

  test("a file changed after the turn's caches were made gets both kinds again, from its new source", async () => {
    const dir = fixtureBundle();
    const buffer = new SharedArrayBuffer(1 << 20);
    await loadInThread(dir, buffer, true);
    const file = path.join(dir, "b.cjs");
    writeFileSync(file, readFileSync(file, "utf8").replace("=> 41", "=> 61"));
    const after = await loadInThread(dir, buffer, true);
    expect(after.sum).toBe(62);
    expect(after.stats).toEqual({ cached: 1, compiled: 1, rejected: 0, published: 2 });
    expect(new codeCache.CodeCacheStore(buffer).records()).toEqual({ loaded: 3, turn: 3 });
  });

  test("a store without room publishes nothing and the code still loads", async () => {
    const report = await loadInThread(fixtureBundle(), new SharedArrayBuffer(256));
    expect(report).toMatchObject({ sum: 42, seven: 7, usedBytes: 0 });
    expect(report.stats).toEqual({ cached: 0, compiled: 2, rejected: 0, published: 0 });
  });

  test("a file that fails to load throws its error, and loads again once fixed", async () => {
    const dir = fixtureBundle();
    const good = readFileSync(path.join(dir, "b.cjs"), "utf8");
    writeFileSync(path.join(dir, "b.cjs"), "throw new Error('b is broken');\n");
    await expect(loadInThread(dir, new SharedArrayBuffer(1 << 20))).rejects.toThrow("b is broken");
    writeFileSync(path.join(dir, "b.cjs"), "exports.value = (;\n");
    await expect(loadInThread(dir, new SharedArrayBuffer(1 << 20))).rejects.toThrow(SyntaxError);
    writeFileSync(path.join(dir, "b.cjs"), good);
    await expect(loadInThread(dir, new SharedArrayBuffer(1 << 20))).resolves.toMatchObject({ sum: 42 });
  });
});

describe("the code cache store", () => {
  const key = (text: string) => Buffer.from(text);

  test("finds the newest cache published under a key, of either kind or of one, and nothing under another key or a prefix", () => {
    const store = new codeCache.CodeCacheStore(new SharedArrayBuffer(4096));
    expect(store.find(key("a"))).toBeUndefined();
    expect(store.publish(key("a\0source"), Buffer.from([1, 2, 3]), LOADED)).toBe(true);
    expect(store.publish(key("b\0source"), Buffer.from([4]), LOADED)).toBe(true);
    expect(store.publish(key("a\0source"), Buffer.from([5, 6]), TURN)).toBe(true);
    expect([...(store.find(key("a\0source")) ?? [])]).toEqual([5, 6]);
    expect([...(store.find(key("a\0source"), LOADED) ?? [])]).toEqual([1, 2, 3]);
    expect([...(store.find(key("b\0source")) ?? [])]).toEqual([4]);
    expect(store.find(key("b\0source"), TURN)).toBeUndefined();
    expect(store.find(key("a\0sourcf"))).toBeUndefined();
    expect(store.find(key("a\0sourc"))).toBeUndefined();
  });

  test("keeps one cache of a kind per key: a second publication is refused", () => {
    const store = new codeCache.CodeCacheStore(new SharedArrayBuffer(4096));
    expect(store.publish(key("a"), Buffer.from([1]), LOADED)).toBe(true);
    expect(store.publish(key("a"), Buffer.from([2]), LOADED)).toBe(false);
    expect([...(store.find(key("a")) ?? [])]).toEqual([1]);
    expect(store.records()).toEqual({ loaded: 1, turn: 0 });
  });

  test("a record whose writer died before it was ready is stepped over", () => {
    const buffer = new SharedArrayBuffer(4096);
    const store = new codeCache.CodeCacheStore(buffer);
    expect(store.publish(key("a"), Buffer.from([1]), LOADED)).toBe(true);
    // What a thread terminated in the middle of publish() leaves: a slot claimed (its size set), never ready.
    const words = new Int32Array(buffer);
    const next = (words[0] as number) >> 2;
    expect(Atomics.compareExchange(words, next, 0, 64)).toBe(0);
    expect(store.publish(key("b"), Buffer.from([2]), LOADED)).toBe(true);
    expect([...(store.find(key("a")) ?? [])]).toEqual([1]);
    expect([...(store.find(key("b")) ?? [])]).toEqual([2]);
    expect(store.records()).toEqual({ loaded: 2, turn: 0 });
  });

  test("refuses what does not fit, and keeps what is there", () => {
    const store = new codeCache.CodeCacheStore(new SharedArrayBuffer(64));
    expect(store.publish(key("k"), new Uint8Array(100), LOADED)).toBe(false);
    expect(store.publish(key("k"), new Uint8Array(8), LOADED)).toBe(true);
    expect(store.publish(key("j"), new Uint8Array(40), LOADED)).toBe(false);
    expect(store.find(key("k"))).toHaveLength(8);
  });

  test("a buffer whose length is not a multiple of four is used up to the last whole word", () => {
    const store = new codeCache.CodeCacheStore(new SharedArrayBuffer(4099));
    expect(store.publish(key("k"), new Uint8Array(8), LOADED)).toBe(true);
    expect(store.find(key("k"))).toHaveLength(8);
  });

  test("threads publishing at once each get a record of their own, all readable", async () => {
    const buffer = new SharedArrayBuffer(1 << 20);
    const writer = `
      const { workerData, parentPort } = require("node:worker_threads");
      const { CodeCacheStore, LOADED } = require(workerData.compiled);
      const store = new CodeCacheStore(workerData.buffer);
      for (let i = 0; i < 50; i++) store.publish(Buffer.from("t" + workerData.id + "-" + i), Buffer.alloc(100 + i, workerData.id), LOADED);
      parentPort.postMessage("done");`;
    await Promise.all(
      Array.from({ length: 4 }, (_, id) => {
        const worker = new Worker(writer, { eval: true, workerData: { compiled: COMPILED, buffer, id } });
        return new Promise((resolve, reject) => {
          worker.once("message", () => resolve(worker.terminate()));
          worker.once("error", reject);
        });
      }),
    );
    const store = new codeCache.CodeCacheStore(buffer);
    expect(store.records()).toEqual({ loaded: 200, turn: 0 });
    for (let id = 0; id < 4; id++) {
      for (let i = 0; i < 50; i++) expect(store.find(key(`t${id}-${i}`))).toEqual(Buffer.alloc(100 + i, id));
    }
  });
});

describe("conversation threads", () => {
  const runtime = useRuntime();
  const model = useMockModel();

  test("share one store: a turn's threads publish the caches that later threads compile from", async () => {
    const manager = runtime.manager({ minThreads: 0 });
    const home = await runtime.home();
    for (let i = 0; i < 2; i++) {
      const { conversation } = await manager.newConversation(model.config(home));
      expect(types(await runTurn(conversation, "hello"))).toContain("task_complete");
      await conversation.shutdown();
    }
    const buffer = getEnvironmentData(CODE_CACHE_KEY);
    expect(buffer).toBeInstanceOf(SharedArrayBuffer);
    const store = new codeCache.CodeCacheStore(buffer as SharedArrayBuffer);
    // The bundle's files once as loaded, and again after the first turn: the start's, the tasks', the client's.
    const { loaded, turn } = store.records();
    expect(loaded).toBeGreaterThanOrEqual(5);
    expect(turn).toBeGreaterThanOrEqual(5);
  });
});
