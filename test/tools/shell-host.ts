// A stand-in for a host process, run by test/tools/process-groups.test.ts (through tsx) and SIGKILLed there:
// it runs one shell command as a session does and then idles until it is killed.
//   argv: <dir> <script> <running|exited> [sandboxed]
// `exited` waits for the command to exit (leaving its background jobs) and then writes <dir>/exited.
// `sandboxed` runs it under the workspace-write sandbox, with <dir> as the workspace.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ProcessGroupTracker, runShellCommand } from "../../src/tools/index.js";

const [dir = ".", script = "true", mode = "running", sandboxed] = process.argv.slice(2);
const done = runShellCommand({
  command: ["sh", "-c", script],
  cwd: dir,
  timeoutMs: 600_000,
  processGroups: new ProcessGroupTracker(),
  ...(sandboxed === "sandboxed" ? { sandbox: { policy: { mode: "workspace-write" as const }, cwd: dir } } : {}),
});
if (mode === "exited") {
  await done;
  writeFileSync(path.join(dir, "exited"), "");
}
setInterval(() => {}, 60_000);
