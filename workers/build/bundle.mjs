// `npm run build:workers`: the worker code, bundled by esbuild into dist/workers/bundle/ as CommonJS files.
//
// esbuild splits only ES modules, so the tree is first bundled as ESM with code splitting (what a conversation
// needs to start in the entry and its chunks; the tasks, tools and model clients in chunks loaded later), then
// each chunk is turned into a CommonJS file, its imports into `require`s. A thread then never sets up Node's ESM
// loader, which cost ~5 ms of every thread's start (BENCHMARKS.md, section 1), and chunks still load once per
// thread, shared, so each module (and each error class) exists once per thread. manifest.json lists the sources
// of each file (test/worker-bundle.test.ts reads it).
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { build, transform } from "esbuild";

const OUT = "dist/workers/bundle";

/**
 * `import()` in the bundle goes through `__llmxImport`, which the loader hands each file (workers/code-cache.cts):
 * code compiled from another thread's V8 code cache cannot run `import()` itself. The sources import modules at
 * run time in one place, src/util/import-module.ts, whose bundled version calls it.
 */
const loaderImport = {
  name: "llmx-loader-import",
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]util[\\/]import-module\.ts$/ }, () => ({
      contents: "export function importModule(url) { return __llmxImport(url); }\n",
      loader: "js",
    }));
  },
};
/**
 * Node's built-ins by name, through the `require` the loader hands each file: src/util/builtin.ts, bundled, does
 * without node:module, which loads Node's ESM loader into a thread (~0.7 ms of its start). So does msgpackr's
 * `createRequire` (it would load its native extension, which is disabled here): it takes node:module on first use.
 * Only msgpackr's import is redirected; anything else that imports node:module gets the real one.
 */
const withoutNodeModule = {
  name: "llmx-without-node-module",
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]util[\\/]builtin\.ts$/ }, () => ({
      contents: "export function requireBuiltin(name) { return require(name); }\n",
      loader: "js",
    }));
    build.onResolve({ filter: /^(node:)?module$/ }, (args) =>
      /[\\/]node_modules[\\/]msgpackr[\\/]/.test(args.importer) ? { path: "node:module", namespace: "llmx-lazy-module" } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "llmx-lazy-module" }, () => ({
      contents: 'export function createRequire(url) { return require("node:module").createRequire(url); }\n',
      loader: "js",
    }));
  },
};
const esm = mkdtempSync(path.join(tmpdir(), "llmx-bundle-"));
const toCjs = (file) => file.replace(/\.mjs$/, ".cjs");

try {
  const { metafile } = await build({
    entryPoints: ["workers/conversation.worker.ts"],
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    outdir: esm,
    outExtension: { ".js": ".mjs" },
    // msgpackr's native extension stays out: its loader probes libc in every thread.
    external: ["msgpackr-extract"],
    define: { "process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED": '"true"' },
    metafile: true,
    logLevel: "warning",
    plugins: [loaderImport, withoutNodeModule],
  });
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const manifest = {};
  for (const [output, info] of Object.entries(metafile.outputs)) {
    manifest[toCjs(path.basename(output))] = Object.keys(info.inputs);
  }
  for (const file of readdirSync(esm).filter((name) => name.endsWith(".mjs"))) {
    const { code } = await transform(readFileSync(path.join(esm, file), "utf8"), {
      format: "cjs",
      loader: "js",
      platform: "node",
      target: "node20",
      define: { "import.meta.url": "__llmxModuleUrl" },
      logLevel: "warning",
    });
    const moduleUrl = code.includes("__llmxModuleUrl") ? 'var __llmxModuleUrl = require("node:url").pathToFileURL(__filename).href;\n' : "";
    // The chunks name each other `./x.mjs`; their CommonJS files are `./x.cjs`. A chunk imported on first use is
    // required then, still lazily and without the ESM loader.
    const linked = code
      .replace(/require\("(\.\/[^"]+)\.mjs"\)/g, 'require("$1.cjs")')
      .replace(/\bimport\("(\.\/[^"]+)\.mjs"\)/g, 'Promise.resolve().then(() => require("$1.cjs"))');
    writeFileSync(path.join(OUT, toCjs(file)), moduleUrl + linked);
  }
  writeFileSync(path.join(OUT, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
} finally {
  rmSync(esm, { recursive: true, force: true });
}
