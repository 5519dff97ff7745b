// The single writer of a rollout file: policy filtering, ordinal numbering, serialized appends.
import { mkdir, open, stat, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { RolloutError, RolloutNotFoundError } from "../errors.js";
import { type RolloutItem, type SessionMeta } from "../protocol/rollout.js";
import { type Clock } from "../util/clock.js";
import { formatRolloutLine } from "./line.js";
import { isPersistedRolloutItem } from "./policy.js";

const TAIL_CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

export class RolloutRecorder {
  private nextOrdinal: number;
  /** Settles when every write queued so far has reached the file. */
  private queue: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  /** A resumed file whose last line lacks its newline (a torn write) gets one before our first line. */
  private needsLeadingNewline: boolean;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly clock: Clock,
    state: { nextOrdinal: number; needsLeadingNewline: boolean },
  ) {
    this.nextOrdinal = state.nextOrdinal;
    this.needsLeadingNewline = state.needsLeadingNewline;
  }

  static async create({
    path,
    meta,
    clock,
  }: {
    path: string;
    meta: SessionMeta;
    clock: Clock;
  }): Promise<RolloutRecorder> {
    let handle: FileHandle | undefined;
    try {
      await mkdir(dirname(path), { recursive: true });
      handle = await open(path, "a");
      const recorder = new RolloutRecorder(path, handle, clock, { nextOrdinal: 0, needsLeadingNewline: false });
      await recorder.write([{ type: "session_meta", payload: meta }]);
      return recorder;
    } catch (error) {
      await handle?.close().catch(() => undefined);
      if (error instanceof RolloutError) throw error;
      throw new RolloutError(path, `cannot create rollout file ${path}`, { cause: error });
    }
  }

  static async resume({ path, clock }: { path: string; clock: Clock }): Promise<RolloutRecorder> {
    try {
      await stat(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new RolloutNotFoundError(path, { cause: error });
      throw new RolloutError(path, `cannot open rollout file ${path}`, { cause: error });
    }
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, "a+");
      return new RolloutRecorder(path, handle, clock, await scanForResume(handle));
    } catch (error) {
      await handle?.close().catch(() => undefined);
      throw new RolloutError(path, `cannot resume rollout file ${path}`, { cause: error });
    }
  }

  /** Appends the items the persistence policy keeps, in one write; resolves once the write has completed. */
  write(items: readonly RolloutItem[]): Promise<void> {
    if (this.closing) return Promise.reject(new RolloutError(this.path, `rollout recorder is closed: ${this.path}`));
    const now = this.clock.now();
    let text = "";
    for (const item of items) {
      if (isPersistedRolloutItem(item)) text += formatRolloutLine(item, now, this.nextOrdinal++);
    }
    if (text === "") return this.queue;
    if (this.needsLeadingNewline) text = `\n${text}`;
    this.needsLeadingNewline = false;
    const written = this.queue.then(() => writeAll(this.handle, Buffer.from(text, "utf8")));
    this.queue = written.catch(() => undefined);
    return written.catch((error: unknown) => {
      throw new RolloutError(this.path, `cannot write rollout file ${this.path}`, { cause: error });
    });
  }

  /** Waits for pending writes, then closes the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.queue.then(() => this.handle.close());
    return this.closing;
  }
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

/** Continues the ordinals of the last complete line; files written without ordinals are counted instead. */
async function scanForResume(handle: FileHandle): Promise<{ nextOrdinal: number; needsLeadingNewline: boolean }> {
  const { size } = await handle.stat();
  if (size === 0) return { nextOrdinal: 0, needsLeadingNewline: false };
  const needsLeadingNewline = (await readAt(handle, size - 1, 1))[0] !== NEWLINE;
  const lastLine = await lastCompleteLine(handle, size);
  const ordinal = lastLine === undefined ? undefined : ordinalOf(lastLine);
  return { nextOrdinal: ordinal === undefined ? await countLines(handle, size) : ordinal + 1, needsLeadingNewline };
}

/** The last newline-terminated non-blank line, read backwards in chunks so large files are not read whole. */
async function lastCompleteLine(handle: FileHandle, size: number): Promise<string | undefined> {
  let tail = Buffer.alloc(0);
  let start = size;
  while (start > 0) {
    const chunkStart = Math.max(0, start - TAIL_CHUNK);
    tail = Buffer.concat([await readAt(handle, chunkStart, start - chunkStart), tail]);
    start = chunkStart;
    const end = tail.lastIndexOf(NEWLINE);
    if (end === -1) continue;
    const lines = tail.subarray(0, end).toString("utf8").split("\n");
    // Unless the tail reaches the start of the file, its first line may be cut off.
    for (let i = lines.length - 1; i >= (start === 0 ? 0 : 1); i--) {
      const line = lines[i] ?? "";
      if (line.trim() !== "") return line;
    }
  }
  return undefined;
}

function ordinalOf(line: string): number | undefined {
  try {
    const ordinal = (JSON.parse(line) as { ordinal?: unknown } | null)?.ordinal;
    return typeof ordinal === "number" && Number.isInteger(ordinal) ? ordinal : undefined;
  } catch {
    return undefined;
  }
}

async function countLines(handle: FileHandle, size: number): Promise<number> {
  const text = (await readAt(handle, 0, size)).toString("utf8");
  return text.split("\n").filter((line) => line.trim() !== "").length;
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}
