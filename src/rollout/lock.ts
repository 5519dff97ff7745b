// One writer per rollout file across processes: `<rollout>.lock` beside the file names the process that holds
// it. A lock whose holder is gone (or is this process: a worker that ended without releasing it) is taken over;
// a lock held by another live process makes the second writer fail with ConversationInUseError.
//
// The lock file appears atomically with its whole content (written to a temporary file, then hard-linked into
// place, which fails if a lock exists). Removing someone else's stale lock happens only under a second lock,
// `<rollout>.lock.takeover`, so two processes taking over at once cannot both end up holding the file.
import type * as FsPromises from "node:fs/promises";
import { closeSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { threadId } from "node:worker_threads";
import { ConversationInUseError, RolloutError } from "../errors.js";
import { requireBuiltin } from "../util/builtin.js";
import { randomBytes } from "../util/clock.js";
import { readRegularFile } from "./guard.js";

const LOCK_SUFFIX = ".lock";
const TAKEOVER_SUFFIX = ".takeover";
/** Rounds of create / inspect / take over before giving up on a lock that keeps changing under us. */
const MAX_ROUNDS = 8;

/** What a lock file says about its holder. Files holding only a pid (written by hand or by tests) are accepted. */
export type RolloutLockHolder = {
  pid: number;
  /** The holder's host name; a lock from another host is never taken over (its pid cannot be checked here). */
  host: string | undefined;
  /** The holder process's start time as the kernel counts it (Linux), so a reused pid is not mistaken for it. */
  start: string | undefined;
};

export function rolloutLockPath(rolloutPath: string): string {
  return `${rolloutPath}${LOCK_SUFFIX}`;
}

/**
 * A name no other writer uses: this process and thread, and 96 random bits (the ids' source, which loads no crypto
 * module into a worker thread).
 */
function uniqueToken(): string {
  return `${process.pid}.${threadId}.${Buffer.from(randomBytes(12)).toString("hex")}`;
}

/** A held lock. `release` removes the lock file if it is still ours; it is idempotent. */
export class RolloutLock {
  private released: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private readonly text: string,
  ) {}

  release(): Promise<void> {
    this.released ??= removeIfUnchanged(this.path, this.text);
    return this.released;
  }
}

/**
 * Takes the lock of `rolloutPath` for this process. Throws ConversationInUseError (naming the holder's pid and
 * the lock file) when another live process holds it, or is taking it over right now.
 */
export async function acquireRolloutLock(rolloutPath: string, conversationId: string): Promise<RolloutLock> {
  const lockPath = rolloutLockPath(rolloutPath);
  const text = `${JSON.stringify({
    pid: process.pid,
    host: hostname(),
    start: ownStart(),
    acquired_at: new Date().toISOString(),
    token: uniqueToken(),
  })}\n`;
  try {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if (createExclusive(lockPath, text)) return new RolloutLock(lockPath, text);
      const seen = await readText(lockPath);
      if (seen === undefined) continue;
      const holder = parseRolloutLock(seen);
      if (holder !== undefined && !isOurs(holder) && isAlive(holder)) {
        throw new ConversationInUseError(conversationId, { pid: holder.pid, host: holder.host, lockPath });
      }
      await removeStale(lockPath, seen, text, conversationId);
    }
  } catch (error) {
    if (error instanceof ConversationInUseError) throw error;
    throw new RolloutError(rolloutPath, `cannot lock rollout file ${rolloutPath} (${lockPath})`, { cause: error });
  }
  throw new RolloutError(rolloutPath, `cannot lock rollout file ${rolloutPath}: ${lockPath} keeps changing`);
}

/** The holder of the rollout's lock, if a lock file exists and names one (live or not). */
export async function readRolloutLock(rolloutPath: string): Promise<RolloutLockHolder | undefined> {
  const text = await readText(rolloutLockPath(rolloutPath));
  return text === undefined ? undefined : parseRolloutLock(text);
}

/**
 * Removes the rollout's lock if this process holds it: for a supervisor whose worker ended without closing
 * its recorder, so other processes need not wait for this one to exit. Returns whether a lock was removed.
 */
export async function releaseOwnRolloutLock(rolloutPath: string): Promise<boolean> {
  const lockPath = rolloutLockPath(rolloutPath);
  const text = await readText(lockPath);
  const holder = text === undefined ? undefined : parseRolloutLock(text);
  if (text === undefined || holder === undefined || !isOurs(holder)) return false;
  await removeIfUnchanged(lockPath, text);
  return true;
}

export function parseRolloutLock(text: string): RolloutLockHolder | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return validPid(Number(trimmed), undefined, undefined);
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  if (typeof json !== "object" || json === null) return undefined;
  const { pid, host, start } = json as { pid?: unknown; host?: unknown; start?: unknown };
  if (typeof pid !== "number") return undefined;
  return validPid(pid, typeof host === "string" ? host : undefined, typeof start === "string" ? start : undefined);
}

function validPid(pid: number, host: string | undefined, start: string | undefined): RolloutLockHolder | undefined {
  // pid 0 and negative pids would name process groups to `kill`: such a lock is garbage.
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, host, start } : undefined;
}

function isOurs(holder: RolloutLockHolder): boolean {
  if (holder.pid !== process.pid) return false;
  if (holder.host !== undefined && holder.host !== hostname()) return false;
  const start = ownStart();
  return holder.start === undefined || start === undefined || holder.start === start;
}

/** Whether the holder may still be running. Another host's process cannot be checked, so it counts as alive. */
export function isAlive(holder: RolloutLockHolder): boolean {
  if (holder.host !== undefined && holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const stat = procStat(holder.pid);
  if (stat === undefined) return true;
  if (stat.state === "Z" || stat.state === "X") return false;
  return holder.start === undefined || holder.start === stat.start;
}

let ownStartCache: { value: string | undefined } | undefined;

function ownStart(): string | undefined {
  ownStartCache ??= { value: procStat(process.pid)?.start };
  return ownStartCache.value;
}

/** State and start time (clock ticks since boot) from /proc/<pid>/stat; undefined where there is no /proc. */
function procStat(pid: number): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses: split after the last one.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const start = fields[19];
  return state === undefined || start === undefined ? undefined : { state, start };
}

/**
 * Writes `text` to a temporary file and links it in as `path`: false if `path` exists. Synchronous: five local
 * system calls of a few bytes each, on every conversation's start, cost less than five trips through the thread
 * pool.
 */
function createExclusive(path: string, text: string): boolean {
  const temp = `${path}.${uniqueToken()}.tmp`;
  writeNewFile(temp, text);
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== undefined && NO_HARD_LINKS.has(code)) return createInPlace(path, text);
    throw error;
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // Already gone, or not ours to remove: the lock itself is settled either way.
    }
  }
}

/** Creates `path` (failing with EEXIST if it exists) holding `text`; a file it could not fill is removed. */
function writeNewFile(path: string, text: string): void {
  const fd = openSync(path, "wx");
  try {
    const data = Buffer.from(text, "utf8");
    for (let written = 0; written < data.length; ) written += writeSync(fd, data, written);
  } catch (error) {
    closeSync(fd);
    unlinkSync(path);
    throw error;
  }
  closeSync(fd);
}

/** Errors of file systems without hard links (FAT, some FUSE mounts). */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

/** The fallback there: exclusive create, then write (another process may briefly see the file still empty). */
function createInPlace(path: string, text: string): boolean {
  try {
    writeNewFile(path, text);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  return true;
}

/**
 * Removes the lock file if it still says `seen` (a dead holder's, or ours from a worker that is gone), under
 * the takeover guard. A guard held by another live process means that process is taking the lock: in use.
 */
async function removeStale(lockPath: string, seen: string, text: string, conversationId: string): Promise<void> {
  const guardPath = `${lockPath}${TAKEOVER_SUFFIX}`;
  if (!createExclusive(guardPath, text)) {
    const guard = await readText(guardPath);
    if (guard === undefined) return;
    const holder = parseRolloutLock(guard);
    if (holder !== undefined && !isOurs(holder) && isAlive(holder)) {
      throw new ConversationInUseError(conversationId, { pid: holder.pid, host: holder.host, lockPath });
    }
    // The guard's holder died in the middle of a takeover.
    await removeIfUnchanged(guardPath, guard);
    return;
  }
  try {
    await removeIfUnchanged(lockPath, seen);
  } finally {
    await removeIfUnchanged(guardPath, text);
  }
}

async function removeIfUnchanged(path: string, text: string): Promise<void> {
  if ((await readText(path)) !== text) return;
  await requireBuiltin<typeof FsPromises>("node:fs/promises").unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
}

/** A lock file's text; a FIFO or device in its place is an error, not a read that never ends. */
async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readRegularFile(path)).toString("utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
