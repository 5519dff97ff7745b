// A second process for the lock tests. It prints "ready", waits for a first line on standard input (so that
// several of them can be let go at once), takes the lock of the rollout named on the command line, prints
// the outcome as one line, and holds the lock until its standard input closes (then releases it and exits).
import { createInterface } from "node:readline";
import { ConversationInUseError } from "../../src/errors.js";
import { acquireRolloutLock } from "../../src/rollout/lock.js";

const [rolloutPath, conversationId] = process.argv.slice(2);
if (rolloutPath === undefined || conversationId === undefined) throw new Error("usage: lock-holder <rollout> <id>");

const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
process.stdout.write("ready\n");
await lines.next();
try {
  const lock = await acquireRolloutLock(rolloutPath, conversationId);
  process.stdout.write("acquired\n");
  input.on("close", () => {
    void lock.release().then(() => process.exit(0));
  });
} catch (error) {
  process.stdout.write(error instanceof ConversationInUseError ? `in-use ${error.holderPid}\n` : `error ${String(error)}\n`);
  process.exit(0);
}
