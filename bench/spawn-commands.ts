// Command spawns from a big host: a fresh host process allocates and touches N GB (as 500 conversations'
// heaps would), then spawns `/bin/true` again and again, directly (fork from the host: the kernel copies its
// page tables while every thread of the host waits) or through the spawn service (src/tools/spawner/: the fork
// happens in a small process). Latency is from the call to the "spawn" event, and to "close".
// Usage: tsx bench/spawn-commands.ts [--quick] [--gb 0,2,4] [--runs N]  (needs `npm run build`)
import "./lib/launch.js";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { benchArgs, ms, printMachine, printTable, summarize } from "./lib/stats.js";

const args = benchArgs(["gb"]);
const sizes = (args.get("gb") ?? (args.quick ? "0" : "0,2,4")).split(",").map(Number);
const samples = args.runs(args.quick ? 3 : 20);
const CLIENT = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist/src/tools/spawner/client.js")).href;

/** The host: allocates, then prints one JSON line {first, toSpawn[], toClose[]} (ms). */
const HOST = `
const [gb, samples] = process.argv.slice(1).map(Number);
const keep = [];
for (let i = 0; i < gb * 8; i++) keep.push(Buffer.alloc(128 * 2 ** 20, 1));
const { spawnCommandProcess } = await import(${JSON.stringify(CLIENT)});
const once = () => new Promise((resolve, reject) => {
  const t0 = performance.now();
  let spawned = 0;
  const child = spawnCommandProcess("/bin/true", [], { cwd: "/", env: { PATH: "/usr/bin:/bin" } });
  child.once("spawn", () => (spawned = performance.now() - t0));
  child.once("error", reject);
  child.once("close", () => resolve([spawned, performance.now() - t0, child.viaService]));
});
const first = await once();
const toSpawn = [], toClose = [];
for (let i = 0; i < samples; i++) { const [s, c] = await once(); toSpawn.push(s); toClose.push(c); }
console.log(JSON.stringify({ first: first[0], viaService: first[2], toSpawn, toClose, kept: keep.length }));
`;

function runHost(gb: number, viaService: boolean): Promise<{ first: number; viaService: boolean; toSpawn: number[]; toClose: number[] }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, LLMX_SPAWN_SERVICE: viaService ? "1" : "0" };
    const child = spawn(process.execPath, ["--input-type=module", "-e", HOST, String(gb), String(samples)], { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`host exited with ${code}: ${out}`))));
  });
}

printMachine("spawn-commands");
const rows: string[][] = [];
for (const gb of sizes) {
  for (const viaService of [false, true]) {
    const result = await runHost(gb, viaService);
    if (result.viaService !== viaService) throw new Error(`asked for viaService=${viaService}, got ${result.viaService}`);
    const spawned = summarize(result.toSpawn);
    const closed = summarize(result.toClose);
    rows.push([`${gb} GB`, viaService ? "spawn service" : "direct", ms(result.first), ms(spawned.p50), ms(spawned.max), ms(closed.p50)]);
  }
}
printTable(`spawn-commands: /bin/true from a host holding N GB, ${samples} spawns each`, ["host holds", "how", "first spawn", "spawn p50", "spawn max", "to close p50"], rows);
