// Every benchmark, one after another, each in its own process. Arguments (e.g. --quick) are passed to each.
// Usage: tsx bench/all.ts [--quick] [--skip codex]
import "./lib/launch.js";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { nodeArgsFor } from "./lib/launch.js";

const BENCHES = ["spawn", "density", "channel", "turns", "rollouts", "chaos", "sandbox", "slow-reader", "app-server", "app-server-transport", "codex", "spawn-commands"];
const argv = process.argv.slice(2);
const skipAt = argv.indexOf("--skip");
const skip = skipAt >= 0 ? (argv.splice(skipAt, 2)[1] ?? "").split(",") : [];

let failed = 0;
for (const name of BENCHES.filter((bench) => !skip.includes(bench))) {
  const script = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  const code = await new Promise<number | null>((resolve) =>
    spawn(process.execPath, nodeArgsFor(script, argv), { stdio: "inherit" }).on("close", resolve),
  );
  if (code !== 0) {
    failed += 1;
    console.error(`bench ${name} failed (exit ${code})`);
  }
}
process.exit(failed === 0 ? 0 : 1);
