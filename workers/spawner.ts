// Entry of the spawn service process (src/tools/spawner/service.ts), started by the first thread of a host that
// runs a command: argv is the host's pid. Prints its secret and the socket's path on stdout, then forks commands
// until the host dies.
import { startSpawnService } from "../src/tools/spawner/service.js";

const hostPid = Number(process.argv[2]);
if (!Number.isSafeInteger(hostPid) || hostPid <= 1 || process.ppid !== hostPid) {
  process.stderr.write("llmx spawner: argv[2] must be the pid of the process that started it\n");
  process.exit(2);
}
const service = await startSpawnService({ hostPid, onStopped: () => process.exit(0) }).catch((error: unknown) => {
  // The host falls back to spawning commands itself; say why once.
  process.stderr.write(`llmx spawner: cannot listen: ${(error as Error).message}\n`);
  process.exit(1);
});
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => service.stop());
// A bug here must not leave commands running with nobody to kill them.
process.on("uncaughtException", (error) => {
  process.stderr.write(`llmx spawner: ${error.stack ?? error.message}\n`);
  service.stop();
  process.exit(70);
});
// One line to the host only (its pipe): the secret, then the socket's path.
process.stdout.write(`${service.token} ${service.socketPath}\n`);
