// `npm start`'s pre-step: rebuilds only when a source file (src/, workers/, machines/, the tsconfigs,
// package.json) is newer than the last build's stamp, so a second start costs a directory walk, not a compile.
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import process from "node:process";

const STAMP = "dist/.build-stamp";
const INPUTS = ["src", "workers", "machines", "tsconfig.json", "tsconfig.build.json", "package.json"];

function newestMtime(entry) {
  let stat;
  try {
    stat = statSync(entry);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const name of readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)));
  return newest;
}

let built = 0;
try {
  built = statSync(STAMP).mtimeMs;
} catch {
  // Never built (or built before stamps existed).
}
const newest = Math.max(...INPUTS.map(newestMtime));
if (newest > built) {
  process.stderr.write("llmx: sources changed since the last build; building\n");
  execFileSync(process.platform === "win32" ? "npm.cmd" : "npm", ["run", "build", "--silent"], { stdio: "inherit" });
}
