// `import()` of a module named by a file URL (a provider module the config names). In the worker bundle this module
// is replaced by one that calls the bundle loader's `__llmxImport` (workers/build/bundle.mjs): code compiled from a
// V8 code cache made in another thread cannot run `import()` itself (workers/code-cache.cts).

/** Imports the ES module or CommonJS file at `url` (a `file:` URL; relative specifiers are not resolved here). */
export function importModule(url: string): Promise<unknown> {
  return import(url);
}
