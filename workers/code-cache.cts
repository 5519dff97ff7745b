// V8's code cache for the worker bundle, shared by the threads of one host.
//
// Every conversation thread is a fresh V8 isolate that parses and compiles the same bundle. The first thread to
// run a bundle file hands V8's code cache for it (`vm.Script#createCachedData`) to a store in shared memory, and
// threads started after it compile from that cache instead. A second, fuller cache of each file follows once: the
// first thread to finish a turn publishes its files again, now with the functions a turn runs compiled.
//
// The store lives in this process's memory only (a SharedArrayBuffer handed to new threads as environment data),
// so nothing outside the process can plant code in it, and every thread of the process runs the same V8 with the
// same flags, so caches are not rejected for a mismatch. V8 checks only that a cache was made for a source of the
// same length, so an entry's key is the file's path and its whole source: a file rebuilt while a host runs never
// gets a cache made from the old one (comparing ~0.2 MB is a memcmp; a hash would need a module loaded per thread).
// A cache V8 rejects anyway costs a normal compile.
//
// Layout: records one after another from the start, each [size, state, key bytes, data bytes] (Int32 words), then
// the key and the data, both padded to 4 bytes; a size of 0 ends the chain. A writer walks the chain and claims
// the first free slot by a compare-and-swap of its size word (0 to its record's size) in one step, writes the
// record, and sets its state last: LOADED for a cache made right after a file ran, TURN for one made after a
// turn. A reader walks the chain, steps over records not yet (or never, if their writer died) in a final state,
// and takes the newest one whose key matches. Records are never overwritten: when the store is full nothing more
// is published.
import fs = require("node:fs");
import path = require("node:path");
import vm = require("node:vm");
import workerThreads = require("node:worker_threads");

/**
 * Where src/manager/pool.ts puts the store (`shareCodeCacheWithNewThreads`) for the threads it starts; the
 * version changes with the layout, so two llmx versions in one process never read each other's records.
 */
const STORE_KEY = "llmx:worker-code-cache:1";
const RECORD_HEADER = 16;
/** Kinds of cache, as a record's final state. */
const LOADED = 1;
const TURN = 2;
type Kind = typeof LOADED | typeof TURN;

const align = (bytes: number): number => (bytes + 3) & ~3;

class CodeCacheStore {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    this.bytes = new Uint8Array(buffer, 0, this.words.length << 2);
  }

  /** The store this thread was started with, if its creator shared one (LLMX_CODE_CACHE=0: none, for comparisons). */
  static ofThisThread(): CodeCacheStore | undefined {
    if (process.env.LLMX_CODE_CACHE === "0") return undefined;
    const buffer = workerThreads.getEnvironmentData(STORE_KEY);
    return buffer instanceof SharedArrayBuffer ? new CodeCacheStore(buffer) : undefined;
  }

  /** A copy of the newest cache published under `key` (of `kind`, if given). */
  find(key: Uint8Array, kind?: Kind): Buffer | undefined {
    return this.lookup(key, kind)?.data;
  }

  /** The newest cache published under `key` (of `kind`, if given), a copy, and its kind. */
  lookup(key: Uint8Array, kind?: Kind): { data: Buffer; kind: Kind } | undefined {
    let found: { at: number; length: number; kind: Kind } | undefined;
    this.walk((word, state) => {
      if ((kind === undefined ? state !== LOADED && state !== TURN : state !== kind) || this.words[word + 2] !== key.length) return;
      const keyAt = (word << 2) + RECORD_HEADER;
      if (Buffer.compare(key, this.bytes.subarray(keyAt, keyAt + key.length)) === 0) {
        found = { at: keyAt + align(key.length), length: this.words[word + 3] as number, kind: state as Kind };
      }
    });
    return found && { data: Buffer.from(this.bytes.subarray(found.at, found.at + found.length)), kind: found.kind };
  }

  /**
   * Adds a cache of `kind` under `key`, unless one is there already (threads that start together compile the
   * same files at once); false when it was not added, there being no room left or one already.
   */
  publish(key: Uint8Array, data: Uint8Array, kind: Kind): boolean {
    if (this.find(key, kind) !== undefined) return false;
    const size = RECORD_HEADER + align(key.length) + align(data.length);
    let word = 0;
    for (;;) {
      if ((word << 2) + size > this.bytes.length) return false;
      const taken = Atomics.compareExchange(this.words, word, 0, size);
      if (taken === 0) break;
      word += taken >> 2;
    }
    this.words[word + 2] = key.length;
    this.words[word + 3] = data.length;
    const keyAt = (word << 2) + RECORD_HEADER;
    this.bytes.set(key, keyAt);
    this.bytes.set(data, keyAt + align(key.length));
    Atomics.store(this.words, word + 1, kind);
    return true;
  }

  /** Records in the store by kind: caches made as files loaded, and after a turn. */
  records(): { loaded: number; turn: number } {
    const counts = { loaded: 0, turn: 0 };
    this.walk((_word, state) => {
      if (state === LOADED) counts.loaded += 1;
      if (state === TURN) counts.turn += 1;
    });
    return counts;
  }

  /** Bytes taken by records so far. */
  get usedBytes(): number {
    let end = 0;
    this.walk((word, _state, size) => (end = (word << 2) + size));
    return end;
  }

  /** Calls `visit` for each record, in order, with its first word's index, its state and its size. */
  private walk(visit: (word: number, state: number, size: number) => void): void {
    for (let word = 0; (word << 2) + RECORD_HEADER <= this.bytes.length; ) {
      const size = Atomics.load(this.words, word);
      if (size <= 0) return;
      visit(word, Atomics.load(this.words, word + 1), size);
      word += size >> 2;
    }
  }
}

/**
 * `import()` for the loaded files (src/util/import-module.ts, as bundled, calls this). Code compiled through
 * `vm.Script` needs an `importModuleDynamically` option for `import()`, and V8 does not carry it over to code
 * compiled from a cache made in another thread; this module is loaded by Node itself, so its `import()` works.
 */
const importModule = (specifier: string): Promise<unknown> => import(specifier);

/**
 * `code` is the string V8 compiled, which V8 keeps anyway: the key is made from it again when needed. `from` is the
 * kind of cache the file was compiled from, if any.
 */
type Loaded = { module: { exports: unknown }; script: vm.Script; file: string; code: string; from: Kind | undefined };

const keyOf = (file: string, code: string): Buffer => Buffer.from(`${file}\0${code}`);

/**
 * Loads the CommonJS files of one bundle directory as `require` would (one instance of each file per thread,
 * cycles see partial exports), compiling each through `vm.Script` with the store's cache. A file's `require` of
 * a sibling (`./x.cjs`) comes back here; anything else (Node's built-ins) goes to Node's `require`; and
 * `__llmxImport(url)` to Node's `import()`. A file runs with `this` its `module.exports`, as under `require`.
 */
class BundleLoader {
  private readonly loaded = new Map<string, Loaded>();
  private turnPublished = false;
  /** Files compiled from a cache, without one, and with one V8 rejected; caches this loader published. */
  readonly stats = { cached: 0, compiled: 0, rejected: 0, published: 0 };

  constructor(
    private readonly dir: string,
    private readonly store: CodeCacheStore | undefined = CodeCacheStore.ofThisThread(),
  ) {}

  require(name: string): unknown {
    const file = path.join(this.dir, name);
    const known = this.loaded.get(file);
    if (known !== undefined) return known.module.exports;
    // The wrapper on a line of its own, so that line and column numbers in stack traces are the file's.
    const code = `(function (exports, require, module, __filename, __dirname, __llmxImport) {\n${fs.readFileSync(file, "utf8")}\n})`;
    const key = this.store && keyOf(file, code);
    const cached = key && this.store?.lookup(key);
    const cachedData = cached?.data;
    const script = new vm.Script(code, { filename: file, lineOffset: -1, ...(cachedData === undefined ? {} : { cachedData }) });
    const module = { exports: {} as unknown };
    const entry: Loaded = { module, script, file, code, from: cached?.kind };
    this.loaded.set(file, entry);
    // Anything else through this module's own `require`: a `createRequire` for the bundle's directory would load
    // node:module, and with it Node's ESM loader, into every thread (~0.7 ms), and it resolves a package the same
    // way (the bundle's directory has no node_modules of its own; the lookup goes on up from here).
    const requireFrom = (specifier: string): unknown => (specifier.startsWith("./") ? this.require(specifier.slice(2)) : require(specifier));
    try {
      (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, requireFrom, module, file, this.dir, importModule);
    } catch (error) {
      this.loaded.delete(file);
      throw error;
    }
    if (cachedData === undefined) this.stats.compiled += 1;
    else if (script.cachedDataRejected === true) this.stats.rejected += 1;
    else this.stats.cached += 1;
    // A file compiled without a cache publishes one (unless another thread did meanwhile). One V8 rejected stays:
    // made in this process, with these flags and this source, it is not expected to happen, and a retry would not
    // fare better.
    if (cachedData === undefined) this.publish(entry, LOADED, key);
    return module.exports;
  }

  /**
   * After this thread's first turn: each file it has loaded is published again, with what the turn compiled,
   * unless a thread did so already (a file compiled from such a cache is not even looked up). Later calls do
   * nothing.
   */
  readonly turnCompleted = (): void => {
    if (this.turnPublished) return;
    this.turnPublished = true;
    for (const entry of this.loaded.values()) if (entry.from !== TURN) this.publish(entry, TURN);
  };

  private publish(entry: Loaded, kind: Kind, key?: Buffer): void {
    if (this.store === undefined) return;
    key ??= keyOf(entry.file, entry.code);
    // Making a cache takes a while (~2 ms for the whole bundle after a turn): not for one there already.
    if (this.store.find(key, kind) !== undefined) return;
    try {
      if (this.store.publish(key, entry.script.createCachedData(), kind)) this.stats.published += 1;
    } catch {
      // A cache is an optimisation: a thread that cannot make or share one still runs.
    }
  }
}

export = { CodeCacheStore, BundleLoader, LOADED, TURN };
