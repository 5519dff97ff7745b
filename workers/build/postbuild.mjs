// After `tsc`: makes the CLI entry executable (its first line is the `#!/usr/bin/env node` shebang) and stamps
// the build, so `npm start` can tell whether dist/ is up to date (workers/build/build-if-stale.mjs).
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";

const ENTRY = "dist/src/cli/main.js";
if (!readFileSync(ENTRY, "utf8").startsWith("#!/usr/bin/env node\n")) {
  throw new Error(`${ENTRY} does not start with the #!/usr/bin/env node shebang`);
}
chmodSync(ENTRY, statSync(ENTRY).mode | 0o111);
writeFileSync("dist/.build-stamp", `${new Date().toISOString()}\n`);
