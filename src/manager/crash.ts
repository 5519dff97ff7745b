// Names how a conversation's worker ended abnormally, from piscina's rejection and the worker's own report.
import { WorkerCrashedError } from "../errors.js";

export function classifyCrash(
  conversationId: string,
  error: unknown,
  reported?: Error,
  killed = false,
): WorkerCrashedError {
  const cause = reported ?? error;
  const raw = error instanceof Error ? error : new Error(String(error));
  const code = (raw as { code?: unknown }).code;
  let reason: WorkerCrashedError["reason"] = "threw";
  if (code === "ERR_WORKER_OUT_OF_MEMORY") reason = "out_of_memory";
  else if (killed || raw.name === "AbortError" || code === "ABORT_ERR") reason = "killed";
  else if (/worker exited with code/i.test(raw.message)) reason = "exited";
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new WorkerCrashedError(conversationId, reason, `conversation ${conversationId} worker ${describe(reason)}: ${detail}`, {
    cause,
  });
}

function describe(reason: WorkerCrashedError["reason"]): string {
  switch (reason) {
    case "threw":
      return "crashed";
    case "exited":
      return "exited";
    case "out_of_memory":
      return "ran out of memory";
    case "killed":
      return "was killed";
  }
}

/** Kills the process groups of commands a dead worker left running. */
export function killProcessGroups(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}
