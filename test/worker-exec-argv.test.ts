// A host started under a TypeScript loader does not pass the loader on to its conversation threads (they run
// the compiled bundle), and keeps the rest of its node flags that a thread can take.
import { describe, expect, it } from "vitest";
import { workerExecArgv } from "../src/manager/pool.js";

describe("workerExecArgv", () => {
  it("drops tsx as the tsx CLI and `node --import tsx` pass it", () => {
    const cli = ["--require", "/app/node_modules/tsx/dist/preflight.cjs", "--import", "file:///app/node_modules/tsx/dist/loader.mjs"];
    expect(workerExecArgv(cli)).toEqual([]);
    expect(workerExecArgv(["--import", "tsx"])).toEqual([]);
    expect(workerExecArgv(["--import=tsx/esm"])).toEqual([]);
  });

  it("drops other TypeScript loaders, in every spelling of the preload flags", () => {
    expect(workerExecArgv(["-r", "ts-node/register"])).toEqual([]);
    expect(workerExecArgv(["--loader", "ts-node/esm"])).toEqual([]);
    expect(workerExecArgv(["--experimental-loader=ts-node/esm"])).toEqual([]);
    expect(workerExecArgv(["--require", "@swc-node/register"])).toEqual([]);
    expect(workerExecArgv(["--import", "file:///x/node_modules/@esbuild-kit/esm-loader/dist/index.js"])).toEqual([]);
  });

  it("keeps the flags a thread accepts and leaves out the process's own (V8 flags)", () => {
    expect(workerExecArgv(["--import", "tsx", "--enable-source-maps", "--conditions", "dev", "--expose-gc", "--max-old-space-size=100"])).toEqual([
      "--enable-source-maps",
      "--conditions",
      "dev",
    ]);
  });

  it("keeps other preloads, even from a directory that happens to be called tsx", () => {
    const flags = ["--require", "./instrument.js", "--import", "/home/me/tsx/preload.js", "--import", "@opentelemetry/auto"];
    expect(workerExecArgv(["--import", "tsx", ...flags])).toEqual(flags);
  });

  it("without a loader, threads inherit the host's flags as Node does by default", () => {
    expect(workerExecArgv(["--expose-gc", "--enable-source-maps"])).toBeUndefined();
    expect(workerExecArgv([])).toBeUndefined();
  });
});
