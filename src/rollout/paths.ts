// Where rollout files live and how they are named (reference section 5.1): local-time date dirs and names.
import { basename, dirname, join } from "node:path";
import { RolloutIdMismatchError } from "../errors.js";
import { isUuid } from "../util/clock.js";

const FILE_PREFIX = "rollout-";
const FILE_SUFFIX = ".jsonl";
const NAME_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}$/;

export function sessionsDir(home: string): string {
  return join(home, "sessions");
}

/** The `sessions` directory `path` lies in, by name (the nearest ancestor called `sessions`), if any. */
export function sessionsDirOf(path: string): string | undefined {
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    if (basename(dir) === "sessions") return dir;
  }
  return undefined;
}

const pad = (value: number, width = 2): string => String(value).padStart(width, "0");

function localDateParts(date: Date): [year: string, month: string, day: string] {
  return [pad(date.getFullYear(), 4), pad(date.getMonth() + 1), pad(date.getDate())];
}

export function rolloutFileName(conversationId: string, date: Date): string {
  const time = [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => pad(n)).join("-");
  return `${FILE_PREFIX}${localDateParts(date).join("-")}T${time}-${conversationId}${FILE_SUFFIX}`;
}

export function rolloutPathFor(home: string, conversationId: string, date: Date): string {
  return join(sessionsDir(home), ...localDateParts(date), rolloutFileName(conversationId, date));
}

/** Splits `rollout-<YYYY-MM-DDThh-mm-ss>-<uuid>.jsonl`; the uuid is found from the right, as Codex does. */
export function parseRolloutFileName(name: string): { timestamp: string; conversationId: string } | undefined {
  if (!name.startsWith(FILE_PREFIX) || !name.endsWith(FILE_SUFFIX)) return undefined;
  const core = name.slice(FILE_PREFIX.length, -FILE_SUFFIX.length);
  for (let dash = core.lastIndexOf("-"); dash > 0; dash = core.lastIndexOf("-", dash - 1)) {
    const conversationId = core.slice(dash + 1);
    if (!isUuid(conversationId)) continue;
    const timestamp = core.slice(0, dash);
    return NAME_TIMESTAMP.test(timestamp) ? { timestamp, conversationId } : undefined;
  }
  return undefined;
}

/**
 * Refuses a file named `rollout-<ts>-<uuid>.jsonl` whose session_meta holds another id: resumed, it would be
 * one conversation in memory and another on disk. Files named otherwise (copies, Codex test files) pass.
 */
export function assertRolloutIdMatches(path: string, sessionMetaId: string): void {
  const named = parseRolloutFileName(basename(path))?.conversationId;
  if (named !== undefined && named.toLowerCase() !== sessionMetaId.toLowerCase()) {
    throw new RolloutIdMismatchError(path, named, sessionMetaId);
  }
}
