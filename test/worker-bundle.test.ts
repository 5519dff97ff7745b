// What a worker thread loads for a regular turn, read from the built bundle (dist/workers/bundle, made by
// `npm run build`, which `npm test` runs first): the entry, its chunks, and the chunks it requires on first use.
// None may hold zod (DESIGN.md, "A worker's start"); only the rollout decoder (resume) and the review's output
// check load it, each on its own first use.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { describe, expect, test } from "vitest";

const BUNDLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist/workers/bundle");
/** Chunks imported on first use that may load zod: the rollout decoder and the review's output check. */
const ZOD_ALLOWED = [/^line-/, /^review-output-/];

/** A chunk's `require`s: at load (static), or on first use (dynamic: `Promise.resolve().then(() => require(...))`). */
function imports(chunk: string): { static: string[]; dynamic: string[] } {
  const code = readFileSync(path.join(BUNDLE, chunk), "utf8");
  const relative = (pattern: RegExp) => [...code.matchAll(pattern)].map((match) => path.basename(match[1] ?? ""));
  const dynamic = relative(/\.then\(\(\) => require\("(\.\/[^"]+)"\)\)/g);
  const all = relative(/\brequire\("(\.\/[^"]+)"\)/g);
  return { static: all.filter((file) => !dynamic.includes(file)), dynamic };
}

const manifest = JSON.parse(readFileSync(path.join(BUNDLE, "manifest.json"), "utf8")) as Record<string, string[]>;

function holdsZod(chunk: string): boolean {
  return (manifest[chunk] ?? []).some((source) => source.includes("node_modules/zod/"));
}

/** Every chunk `roots` load, following static imports, and dynamic ones unless `follow` refuses them. */
function closure(roots: string[], follow: (chunk: string) => boolean): Set<string> {
  const seen = new Set<string>();
  const visit = (chunk: string): void => {
    if (seen.has(chunk)) return;
    seen.add(chunk);
    const { static: loaded, dynamic } = imports(chunk);
    loaded.forEach(visit);
    dynamic.filter(follow).forEach(visit);
  };
  roots.forEach(visit);
  return seen;
}

const isZodAllowed = (chunk: string): boolean => ZOD_ALLOWED.some((pattern) => pattern.test(chunk));

describe("the worker bundle", () => {
  test("a regular turn (both providers, the tools, delegation) loads no chunk that holds zod", () => {
    const turn = closure(["conversation.worker.cjs"], (chunk) => !isZodAllowed(chunk));
    expect(turn.size).toBeGreaterThan(5);
    expect([...turn].filter(holdsZod)).toEqual([]);
  });

  test("zod is still there for the rollout decoder and the review output, each loaded on first use", () => {
    const lazy = readdirSync(BUNDLE).filter((file) => file.endsWith(".cjs") && isZodAllowed(file));
    expect(lazy.map((file) => ZOD_ALLOWED.findIndex((pattern) => pattern.test(file))).sort()).toEqual([0, 1]);
    for (const chunk of lazy) expect([...closure([chunk], () => false)].some(holdsZod)).toBe(true);
    const all = closure(["conversation.worker.cjs"], () => true);
    expect(lazy.every((chunk) => all.has(chunk))).toBe(true);
  });

  test("no file runs import() itself: the loader's __llmxImport does (code from another thread's cache cannot)", () => {
    const files = readdirSync(BUNDLE).filter((file) => file.endsWith(".cjs"));
    const direct = files.filter((file) => /\bimport\(/.test(readFileSync(path.join(BUNDLE, file), "utf8")));
    expect(direct).toEqual([]);
    expect(files.some((file) => readFileSync(path.join(BUNDLE, file), "utf8").includes("__llmxImport("))).toBe(true);
  });

  test("a regular turn's chunks load no built-in it does not use at once (child_process, fs/promises, crypto, perf_hooks, module)", () => {
    const turn = closure(["conversation.worker.cjs"], (chunk) => !isZodAllowed(chunk));
    // node:module loads Node's ESM loader into the thread.
    const costly = /\brequire\("(node:)?(child_process|fs\/promises|crypto|perf_hooks|module)"\)|\bperformance\.now\(/g;
    const found = [...turn].flatMap((chunk) => [...readFileSync(path.join(BUNDLE, chunk), "utf8").matchAll(costly)].map((m) => `${chunk}: ${m[0]}`));
    expect(found).toEqual([]);
  });

  test("a thread that loads the worker entry does not load node:module, nor with it Node's ESM loader", async () => {
    const entry = path.resolve(BUNDLE, "../conversation.worker.cjs");
    const file = path.join(mkdtempSync(path.join(tmpdir(), "llmx-entry-")), "probe.cjs");
    writeFileSync(
      file,
      // The warm task returns once the bundle has loaded, and throws if it could not.
      `require(${JSON.stringify(entry)})({ warm: true }).then(() => require("node:worker_threads").parentPort.postMessage(process.moduleLoadList));\n`,
    );
    const worker = new Worker(file);
    const loaded = await new Promise<string[]>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    await worker.terminate();
    // The bundle did load (os is its own, for the lock's host name) ...
    expect(loaded).toContain("NativeModule os");
    // ... and nothing that sets up the ESM loader.
    expect(loaded.filter((name) => /^NativeModule (module|internal\/modules\/esm\/loader)$/.test(name))).toEqual([]);
  });
});
