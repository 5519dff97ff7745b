// What the supervisor side of a worker keeps to stop it and to clean up after it: the thread it runs on, the
// process groups of its running commands, its own last word (llmx/fatal), and whether a kill was asked for.
import type { FromWorker } from "../channel/index.js";
import { deserializeError, type SerializedError, type WorkerCrashedError } from "../errors.js";
import { classifyCrash, killProcessGroups } from "./crash.js";

export class WorkerWatch {
  threadId: number | undefined;
  private fatal: Error | undefined;
  private killRequested = false;
  private readonly processGroups = new Set<number>();

  constructor(
    private readonly conversationId: string,
    private readonly kill: () => void,
  ) {}

  /** Takes the lifecycle messages; returns false for anything else. */
  observe(message: FromWorker): boolean {
    switch (message.type) {
      case "llmx/ready":
        this.threadId = message.threadId;
        return true;
      case "llmx/fatal":
        this.fatal = deserializeError(message.error as SerializedError);
        return true;
      case "llmx/process-group":
        if (message.running) this.processGroups.add(message.pid);
        else this.processGroups.delete(message.pid);
        return true;
      default:
        return false;
    }
  }

  terminate(): void {
    this.killRequested = true;
    this.kill();
  }

  /** The typed error for a worker whose task rejected; kills the commands it left behind. */
  crashed(error: unknown): WorkerCrashedError {
    killProcessGroups(this.processGroups);
    this.processGroups.clear();
    return classifyCrash(this.conversationId, error, this.fatal, this.killRequested);
  }
}
