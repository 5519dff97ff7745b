// The single writer of a rollout file: policy filtering, ordinal numbering, serialized appends. It holds the
// file's lock (one writer across processes) from before its first append until it is closed, and stops at the
// first failed write: the file is cut back to its last complete line when possible, and every later write
// rejects with the same RolloutWriteError.
//
// File operations are synchronous. The recorder lives in its conversation's worker thread, whose loop has
// nothing else to do while a line is appended; one local append of a few KiB costs microseconds, while a trip
// through libuv's thread pool (shared by every thread of the process) costs 0.2-1 ms on a busy host, and a
// conversation's start made several (DESIGN.md, "A worker's start"). The API stays promise-based.
import { closeSync, fstatSync, ftruncateSync, mkdirSync, readSync, writeSync } from "node:fs";
import { basename, dirname } from "node:path";
import { ConversationInUseError, RolloutError, RolloutWriteError } from "../errors.js";
import type { RolloutItem, SessionMeta } from "../protocol/rollout.js";
import type { Clock } from "../util/clock.js";
import { assertInsideSessions, openRolloutFile } from "./guard.js";
import { formatRolloutLine } from "./format.js";
import { acquireRolloutLock, type RolloutLock } from "./lock.js";
import { assertRolloutIdMatches, parseRolloutFileName } from "./paths.js";
import { isPersistedRolloutItem } from "./policy.js";

const TAIL_CHUNK = 64 * 1024;
/** How far into a file its first line (the session_meta, base instructions included) is looked for. */
const HEAD_MAX_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;

/** The recorder's file operations on the file's descriptor; tests substitute failing ones. */
export type RolloutFileIo = {
  /** Appends `length` bytes of `data` from `offset`; resolves with how many it wrote (a short write is not an error). */
  write(fd: number, data: Buffer, offset: number, length: number): Promise<number>;
  truncate(fd: number, size: number): Promise<void>;
};

export const nodeRolloutFileIo: RolloutFileIo = {
  // Async functions, so that a failed call rejects instead of throwing.
  write: async (fd, data, offset, length) => writeSync(fd, data, offset, length),
  truncate: async (fd, size) => ftruncateSync(fd, size),
};

type RecorderState = { nextOrdinal: number; needsLeadingNewline: boolean; size: number };

export class RolloutRecorder {
  private nextOrdinal: number;
  /** Settles when every write queued so far has reached the file (or failed). */
  private queue: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  /** The file's last line lacks its newline (a torn write): the next line starts on a fresh one. */
  private needsLeadingNewline: boolean;
  /** The file's length as this recorder knows it: it is the only writer while it holds the lock. */
  private size: number;
  private writeFailure: RolloutWriteError | undefined;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly lock: RolloutLock,
    private readonly clock: Clock,
    private readonly io: RolloutFileIo,
    state: RecorderState,
  ) {
    this.nextOrdinal = state.nextOrdinal;
    this.needsLeadingNewline = state.needsLeadingNewline;
    this.size = state.size;
  }

  /** Starts a rollout file with its session_meta line, after taking its lock. */
  static async create({
    path,
    meta,
    clock,
    io = nodeRolloutFileIo,
  }: {
    path: string;
    meta: SessionMeta;
    clock: Clock;
    io?: RolloutFileIo;
  }): Promise<RolloutRecorder> {
    let lock: RolloutLock | undefined;
    let fd: number | undefined;
    try {
      assertInsideSessions(path);
      mkdirSync(dirname(path), { recursive: true });
      assertInsideSessions(path);
      lock = await acquireRolloutLock(path, meta.id);
      fd = openRolloutFile(path, "create");
      const { size } = fstatSync(fd);
      const recorder = new RolloutRecorder(path, fd, lock, clock, io, { nextOrdinal: 0, needsLeadingNewline: false, size });
      await recorder.write([{ type: "session_meta", payload: meta }]);
      return recorder;
    } catch (error) {
      closeQuietly(fd);
      await lock?.release().catch(() => undefined);
      throw asRolloutError(error, path, `cannot create rollout file ${path}`);
    }
  }

  /**
   * Reopens a rollout file to append to it, after taking its lock. Refuses a file whose session_meta id is not
   * the uuid in its name, or not `conversationId` when given.
   */
  static async resume({
    path,
    clock,
    conversationId,
    io = nodeRolloutFileIo,
  }: {
    path: string;
    clock: Clock;
    conversationId?: string;
    io?: RolloutFileIo;
  }): Promise<RolloutRecorder> {
    let lock: RolloutLock | undefined;
    let fd: number | undefined;
    try {
      assertInsideSessions(path);
      fd = openRolloutFile(path, "resume");
      const metaId = await sessionMetaId(fd);
      if (metaId !== undefined) assertRolloutIdMatches(path, metaId);
      const id = metaId ?? parseRolloutFileName(basename(path))?.conversationId;
      if (conversationId !== undefined && id !== undefined && id.toLowerCase() !== conversationId.toLowerCase()) {
        throw new RolloutError(path, `rollout file ${path} holds conversation ${id}, not ${conversationId}`);
      }
      lock = await acquireRolloutLock(path, conversationId ?? id ?? path);
      return new RolloutRecorder(path, fd, lock, clock, io, scanForResume(fd));
    } catch (error) {
      closeQuietly(fd);
      await lock?.release().catch(() => undefined);
      throw asRolloutError(error, path, `cannot resume rollout file ${path}`);
    }
  }

  /** The failed write that stopped this recorder, if one has. */
  get failure(): RolloutWriteError | undefined {
    return this.writeFailure;
  }

  /**
   * Appends the items the persistence policy keeps, in one write; resolves once the write has completed.
   * Once a write has failed, this rejects with that write's RolloutWriteError and writes nothing.
   */
  write(items: readonly RolloutItem[]): Promise<void> {
    if (this.closing) return Promise.reject(new RolloutError(this.path, `rollout recorder is closed: ${this.path}`));
    if (this.writeFailure) return Promise.reject(this.writeFailure);
    const now = this.clock.now();
    let text = "";
    for (const item of items) {
      if (isPersistedRolloutItem(item)) text += formatRolloutLine(item, now, this.nextOrdinal++);
    }
    const written = this.queue.then(() => (text === "" ? this.throwIfFailed() : this.append(text)));
    this.queue = written.catch(() => undefined);
    return written;
  }

  /** Waits for pending writes, then closes the file and releases its lock. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.queue.then(async () => {
      try {
        closeSync(this.fd);
      } finally {
        await this.lock.release();
      }
    });
    return this.closing;
  }

  private throwIfFailed(): void {
    if (this.writeFailure) throw this.writeFailure;
  }

  private async append(text: string): Promise<void> {
    this.throwIfFailed();
    const data = Buffer.from(this.needsLeadingNewline ? `\n${text}` : text, "utf8");
    const start = this.size;
    let written = 0;
    try {
      while (written < data.length) {
        const count = await this.io.write(this.fd, data, written, data.length - written);
        if (!(count > 0)) throw new Error(`write of ${data.length - written} bytes wrote nothing`);
        written += count;
        this.size += count;
      }
      this.needsLeadingNewline = false;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.writeFailure = new RolloutWriteError(this.path, typeof code === "string" ? code : undefined, { cause: error });
      if (written > 0) await this.cutTornTail(start);
      throw this.writeFailure;
    }
  }

  /** Cuts a partly written line off the end of the file; if that fails, a later writer starts on a fresh line. */
  private async cutTornTail(size: number): Promise<void> {
    try {
      await this.io.truncate(this.fd, size);
      this.size = size;
    } catch {
      this.needsLeadingNewline = true;
    }
  }
}

function closeQuietly(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // Closing is cleanup after another error, which is the one to report.
  }
}

function asRolloutError(error: unknown, path: string, message: string): Error {
  if (error instanceof RolloutError || error instanceof ConversationInUseError) return error;
  return new RolloutError(path, message, { cause: error });
}

/** The id in the file's first line, when that line is a session_meta (as every rollout's first line is). */
async function sessionMetaId(fd: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  while (total < HEAD_MAX_BYTES) {
    const chunk = readAt(fd, total, TAIL_CHUNK);
    if (chunk.length === 0) break;
    const newline = chunk.indexOf(NEWLINE);
    chunks.push(newline === -1 ? chunk : chunk.subarray(0, newline));
    total += chunk.length;
    if (newline !== -1 || chunk.length < TAIL_CHUNK) break;
  }
  // The decoder (and its schemas) is loaded only here, when a rollout is resumed: the file is untrusted input.
  const { parseRolloutLine } = await import("./line.js");
  const line = parseRolloutLine(Buffer.concat(chunks).toString("utf8"));
  return line.ok && line.item.type === "session_meta" ? line.item.payload.id : undefined;
}

/** Continues the ordinals of the last complete line; files written without ordinals are counted instead. */
function scanForResume(fd: number): RecorderState {
  const { size } = fstatSync(fd);
  if (size === 0) return { nextOrdinal: 0, needsLeadingNewline: false, size };
  const needsLeadingNewline = (readAt(fd, size - 1, 1))[0] !== NEWLINE;
  const ordinal = lastOrdinal(fd, size);
  return { nextOrdinal: ordinal === undefined ? countLines(fd, size) : ordinal + 1, needsLeadingNewline, size };
}

/** How far into the last line its ordinal is looked for before the whole line is parsed. */
const LINE_HEAD_BYTES = 4 * 1024;
/** The writer's line head: `{"timestamp":"...","ordinal":N,` (formatRolloutLine's key order). */
const LINE_HEAD = /^\{"timestamp":"[^"\\]*","ordinal":(\d+),"type":"/;

/**
 * The ordinal of the last complete line. A line this recorder wrote says it in its first bytes, so a line of
 * any length costs one small read; another line is parsed whole.
 */
function lastOrdinal(fd: number, size: number): number | undefined {
  const line = lastCompleteLine(fd, size);
  if (line === undefined) return undefined;
  const head = (readAt(fd, line.start, Math.min(LINE_HEAD_BYTES, line.end - line.start))).toString("latin1");
  const match = LINE_HEAD.exec(head);
  if (match?.[1] !== undefined) return Number(match[1]);
  return ordinalOf((readAt(fd, line.start, line.end - line.start)).toString("utf8"));
}

/**
 * Where the last newline-terminated non-blank line lies (`end` at its newline). Newlines are looked for
 * backwards, one chunk at a time, without keeping the chunks, so the cost is linear in the bytes scanned.
 */
function lastCompleteLine(fd: number, size: number): { start: number; end: number } | undefined {
  // The newline ending the candidate line; bytes after the file's last newline are a torn line and ignored.
  let lineEnd = previousNewline(fd, size);
  while (lineEnd !== -1) {
    const lineStart = (previousNewline(fd, lineEnd)) + 1;
    if (lineEnd > lineStart && !isBlank(fd, lineStart, lineEnd)) return { start: lineStart, end: lineEnd };
    lineEnd = lineStart - 1;
  }
  return undefined;
}

/** Whether bytes [start, end) are whitespace only (read in chunks; stops at the first other byte). */
function isBlank(fd: number, start: number, end: number): boolean {
  for (let at = start; at < end; at += TAIL_CHUNK) {
    const chunk = readAt(fd, at, Math.min(TAIL_CHUNK, end - at));
    if (chunk.toString("latin1").trim() !== "") return false;
  }
  return true;
}

/** The largest chunk the backwards scan grows to (reading a long line in fewer, larger reads). */
const MAX_SCAN_CHUNK = 4 * 1024 * 1024;

/** The offset of the last newline before `end`, or -1 if there is none. */
function previousNewline(fd: number, end: number): number {
  let start = end;
  let chunk = TAIL_CHUNK;
  while (start > 0) {
    const chunkStart = Math.max(0, start - chunk);
    const found = (readAt(fd, chunkStart, start - chunkStart)).lastIndexOf(NEWLINE);
    if (found !== -1) return chunkStart + found;
    start = chunkStart;
    chunk = Math.min(chunk * 2, MAX_SCAN_CHUNK);
  }
  return -1;
}

function ordinalOf(line: string): number | undefined {
  try {
    const ordinal = (JSON.parse(line) as { ordinal?: unknown } | null)?.ordinal;
    return typeof ordinal === "number" && Number.isInteger(ordinal) ? ordinal : undefined;
  } catch {
    return undefined;
  }
}

function countLines(fd: number, size: number): number {
  const text = (readAt(fd, 0, size)).toString("utf8");
  return text.split("\n").filter((line) => line.trim() !== "").length;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const bytesRead = readSync(fd, buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}
