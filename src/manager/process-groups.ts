// Kills the process groups of commands a dead worker left running.
export function killProcessGroups(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}
