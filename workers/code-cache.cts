// V8's code cache for the worker bundle, shared by the threads of one host.
//
// Every conversation thread is a fresh V8 isolate that parses and compiles the same bundle. The first thread to
// run a bundle file hands V8's code cache for it (`vm.Script#createCachedData`) to a store in shared memory, and
// threads started after it compile from that cache instead. A second, fuller cache follows once: the first thread
// to finish a turn publishes its files again, now with the functions a turn runs compiled.
//
// The store lives in this process's memory only (a SharedArrayBuffer handed to new threads as environment data),
// so nothing outside the process can plant code in it, and every thread of the process runs the same V8 with the
// same flags, so caches are not rejected for a mismatch. V8 checks only that a cache was made for a source of the
// same length, so an entry's key is the file's path and its whole source: a file rebuilt while a host runs never
// gets a cache made from the old one (comparing ~0.2 MB is a memcmp; a hash would need a module loaded per thread).
// A cache V8 rejects anyway costs a normal compile.
//
// Layout (Int32 words): [0] the byte offset where the next record goes (0: none yet), [1] set once a thread has
// published its caches after a turn; records from RECORDS on, each [state, record bytes, key bytes, data bytes],
// then the key and the data, both padded to 4 bytes. A writer reserves its record by moving [0] on, stores its
// size, writes it, and then sets its state to READY; a reader takes the newest READY record whose key matches and
// steps over the others (a record whose writer died stays unready). Records are never overwritten: when the
// store is full nothing more is published.
import fs = require("node:fs");
import path = require("node:path");
import vm = require("node:vm");
import Module = require("node:module");
import workerThreads = require("node:worker_threads");

/** Where src/manager/pool.ts puts the store (`shareCodeCacheWithNewThreads`) for the threads it starts. */
const STORE_KEY = "llmx:worker-code-cache";
const RECORDS = 16;
const RECORD_HEADER = 16;
const READY = 1;

const align = (bytes: number): number => (bytes + 3) & ~3;

class CodeCacheStore {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    this.bytes = new Uint8Array(buffer);
  }

  /** The store this thread was started with, if its creator shared one (LLMX_CODE_CACHE=0: none, for comparisons). */
  static ofThisThread(): CodeCacheStore | undefined {
    if (process.env.LLMX_CODE_CACHE === "0") return undefined;
    const buffer = workerThreads.getEnvironmentData(STORE_KEY);
    return buffer instanceof SharedArrayBuffer && buffer.byteLength > RECORDS ? new CodeCacheStore(buffer) : undefined;
  }

  /** A copy of the newest cache published under `key`. */
  find(wanted: Uint8Array): Buffer | undefined {
    const end = this.end();
    let found: { at: number; length: number } | undefined;
    for (let at = RECORDS; at + RECORD_HEADER <= end; ) {
      const word = at >> 2;
      const size = Atomics.load(this.words, word + 1);
      if (size <= 0) break; // just reserved: what follows is newer than what this read can use
      if (Atomics.load(this.words, word) === READY && this.words[word + 2] === wanted.length) {
        const keyAt = at + RECORD_HEADER;
        if (Buffer.compare(wanted, this.bytes.subarray(keyAt, keyAt + wanted.length)) === 0) {
          found = { at: keyAt + align(wanted.length), length: this.words[word + 3] as number };
        }
      }
      at += size;
    }
    return found && Buffer.from(this.bytes.subarray(found.at, found.at + found.length));
  }

  /** Adds a cache under `key`; false when the store has no room left. */
  publish(keyBytes: Uint8Array, data: Uint8Array): boolean {
    const size = RECORD_HEADER + align(keyBytes.length) + align(data.length);
    let at: number;
    for (;;) {
      const raw = Atomics.load(this.words, 0);
      at = raw || RECORDS;
      if (at + size > this.bytes.length) return false;
      if (Atomics.compareExchange(this.words, 0, raw, at + size) === raw) break;
    }
    const word = at >> 2;
    // The size first: a reader can step over this record while it is written, or for good if this thread dies
    // before it is READY.
    Atomics.store(this.words, word + 1, size);
    this.words[word + 2] = keyBytes.length;
    this.words[word + 3] = data.length;
    this.bytes.set(keyBytes, at + RECORD_HEADER);
    this.bytes.set(data, at + RECORD_HEADER + align(keyBytes.length));
    Atomics.store(this.words, word, READY);
    return true;
  }

  /** Bytes taken by records so far. */
  get usedBytes(): number {
    return this.end() - RECORDS;
  }

  /** True for the one caller that claims the after-a-turn publication. */
  claimTurnPublication(): boolean {
    return Atomics.compareExchange(this.words, 1, 0, 1) === 0;
  }

  private end(): number {
    return Atomics.load(this.words, 0) || RECORDS;
  }
}

/**
 * `import()` for the loaded files (the bundle build turns theirs into calls of this). Code compiled through
 * `vm.Script` needs an `importModuleDynamically` option for `import()`, and V8 does not carry it over to code
 * compiled from a cache made in another thread; this module is loaded by Node itself, so its `import()` works.
 */
const importModule = (specifier: string): Promise<unknown> => import(specifier);

/** `code` is the string V8 compiled, which V8 keeps anyway: the key is made from it again when needed. */
type Loaded = { module: { exports: unknown }; script: vm.Script; file: string; code: string };

const keyOf = (file: string, code: string): Buffer => Buffer.from(`${file}\0${code}`);

/**
 * Loads the CommonJS files of one bundle directory as `require` would (one instance of each file per thread,
 * cycles see partial exports), compiling each through `vm.Script` with the store's cache. A file's `require` of
 * a sibling (`./x.cjs`) comes back here; anything else (Node's built-ins) goes to Node's `require`; `import(x)`,
 * written `__llmxImport(x)` in the bundle, to Node's `import()`.
 */
class BundleLoader {
  private readonly loaded = new Map<string, Loaded>();
  private readonly nodeRequire: NodeJS.Require;
  /** Files compiled from a cache, without one, and with one V8 rejected; caches this loader published. */
  readonly stats = { cached: 0, compiled: 0, rejected: 0, published: 0 };

  constructor(
    private readonly dir: string,
    private readonly store: CodeCacheStore | undefined = CodeCacheStore.ofThisThread(),
  ) {
    this.nodeRequire = Module.createRequire(path.join(dir, "index.cjs"));
  }

  require(name: string): unknown {
    const file = path.join(this.dir, name);
    const known = this.loaded.get(file);
    if (known !== undefined) return known.module.exports;
    const code = `(function (exports, require, module, __filename, __dirname, __llmxImport) {${fs.readFileSync(file, "utf8")}\n})`;
    const cachedData = this.store?.find(keyOf(file, code));
    const script = new vm.Script(code, { filename: file, ...(cachedData === undefined ? {} : { cachedData }) });
    const module = { exports: {} as unknown };
    const entry: Loaded = { module, script, file, code };
    this.loaded.set(file, entry);
    const requireFrom = (specifier: string): unknown =>
      specifier.startsWith("./") ? this.require(specifier.slice(2)) : this.nodeRequire(specifier);
    try {
      (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, requireFrom, module, file, this.dir, importModule);
    } catch (error) {
      this.loaded.delete(file);
      throw error;
    }
    if (cachedData === undefined) this.stats.compiled += 1;
    else if (script.cachedDataRejected === true) this.stats.rejected += 1;
    else this.stats.cached += 1;
    // A file compiled without a cache publishes one, unless another thread did meanwhile (threads that start
    // together all compile); a rejected cache is replaced.
    if (cachedData === undefined ? this.store?.find(keyOf(file, code)) === undefined : script.cachedDataRejected === true) this.publish(entry);
    return module.exports;
  }

  /**
   * After this thread's first turn: the first thread of the process to get here publishes every file it has
   * loaded again, with what the turn compiled. Later calls, here or in other threads, do nothing.
   */
  readonly turnCompleted = (): void => {
    if (this.store?.claimTurnPublication() !== true) return;
    for (const entry of this.loaded.values()) this.publish(entry);
  };

  private publish(entry: Loaded): void {
    if (this.store === undefined) return;
    try {
      if (this.store.publish(keyOf(entry.file, entry.code), entry.script.createCachedData())) this.stats.published += 1;
    } catch {
      // A cache is an optimisation: a thread that cannot make or share one still runs.
    }
  }
}

export = { CodeCacheStore, BundleLoader };
