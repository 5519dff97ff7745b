// Loads a rollout file for resume or fork (reference sections 5.6 and 11), resolving forks stored by reference.
import { dirname } from "node:path";
import {
  EmptyRolloutError,
  MissingSessionMetaError,
  RolloutError,
  RolloutHistoryBaseError,
  RolloutNotFoundError,
} from "../errors.js";
import type { HistoryBase, RolloutItem, SessionMeta } from "../protocol/rollout.js";
import { readRegularFile } from "./guard.js";
import { parseRolloutLine } from "./line.js";
import { findRolloutPathById } from "./list.js";
import { assertRolloutIdMatches, sessionsDirOf } from "./paths.js";

export { parseRolloutLine, type ParsedRolloutLine } from "./line.js";

export type RolloutHistory = {
  conversationId: string;
  meta: SessionMeta;
  /** The parent's history prefix (for a fork stored by reference) followed by this file's items. */
  items: RolloutItem[];
  /** Lines of this file that were not blank and did not decode; `line` is 1-based. */
  skipped: { line: number; reason: string }[];
  path: string;
};

/** A decoded line; `end` is the byte offset just past its newline, to cut a parent at `end_byte_offset`. */
type FileLine = { item: RolloutItem; ordinal: number | undefined; end: number };
/** An item of a thread's logical history; `ordinal` is its position there when the line carried none. */
type Entry = { item: RolloutItem; ordinal: number };

type Thread = {
  meta: SessionMeta;
  base: Entry[];
  lines: FileLine[];
  bytes: Buffer;
  skipped: RolloutHistory["skipped"];
};

export async function readRolloutHistory(path: string, options: { home?: string } = {}): Promise<RolloutHistory> {
  const thread = await loadThread(path, options.home, new Set());
  return {
    conversationId: thread.meta.id,
    meta: thread.meta,
    items: [...thread.base.map((entry) => entry.item), ...thread.lines.map((line) => line.item)],
    skipped: thread.skipped,
    path,
  };
}

async function loadThread(path: string, home: string | undefined, visiting: ReadonlySet<string>): Promise<Thread> {
  const bytes = await readRolloutBytes(path);
  const { lines, skipped } = decodeLines(bytes);
  const metaItem = lines.find((line) => line.item.type === "session_meta")?.item;
  const meta = metaItem?.type === "session_meta" ? metaItem.payload : undefined;
  if (!meta) throw new MissingSessionMetaError(path, skipped.length);
  assertRolloutIdMatches(path, meta.id);
  const base = meta.history_base
    ? await resolveBase(path, meta.history_base, home ?? homeOf(path), new Set([...visiting, meta.id]))
    : [];
  return { meta, base, lines, bytes, skipped };
}

async function readRolloutBytes(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new RolloutNotFoundError(path, { cause: error });
    if (error instanceof RolloutError) throw error;
    throw new RolloutError(path, `cannot read rollout file ${path}`, { cause: error });
  }
  if (isBlank(bytes)) throw new EmptyRolloutError(path);
  return bytes;
}

/** Whether the file holds only ASCII whitespace (checked on the bytes: no copy of a large file as a string). */
function isBlank(bytes: Buffer): boolean {
  for (const byte of bytes) {
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09 && byte !== 0x0b && byte !== 0x0c) return false;
  }
  return true;
}

function decodeLines(bytes: Buffer): { lines: FileLine[]; skipped: Thread["skipped"] } {
  const lines: FileLine[] = [];
  const skipped: Thread["skipped"] = [];
  for (let start = 0, lineNumber = 1; start < bytes.length; lineNumber++) {
    const newline = bytes.indexOf(0x0a, start);
    const end = newline === -1 ? bytes.length : newline + 1;
    const text = bytes.toString("utf8", start, newline === -1 ? bytes.length : newline);
    start = end;
    if (text.trim() === "") continue;
    const parsed = parseRolloutLine(text);
    if (parsed.ok) lines.push({ item: parsed.item, ordinal: parsed.ordinal, end });
    else skipped.push({ line: lineNumber, reason: parsed.reason });
  }
  return { lines, skipped };
}

/** The home whose `sessions` directory holds `path`, so a parent thread can be looked up beside it. */
function homeOf(path: string): string | undefined {
  const sessions = sessionsDirOf(path);
  return sessions === undefined ? undefined : dirname(sessions);
}

/** The parent's history up to the fork point: the cut by byte offset is exact even if the parent grew since. */
async function resolveBase(
  path: string,
  base: HistoryBase,
  home: string | undefined,
  visiting: ReadonlySet<string>,
): Promise<Entry[]> {
  const parentId = base.thread_id;
  if (visiting.has(parentId)) {
    throw new RolloutHistoryBaseError(path, `history base cycle: thread ${parentId} is its own ancestor`);
  }
  const parentPath = home === undefined ? undefined : await findRolloutPathById(home, parentId);
  if (parentPath === undefined) {
    throw new RolloutHistoryBaseError(path, `history base thread ${parentId} not found${home ? ` under ${home}` : ""}`);
  }
  const parent = await loadThread(parentPath, home, visiting);
  const offset = base.end_byte_offset;
  if (offset !== undefined) {
    if (offset > parent.bytes.length || (offset > 0 && parent.bytes[offset - 1] !== 0x0a)) {
      throw new RolloutHistoryBaseError(
        path,
        `history base offset ${offset} is not a line boundary of ${parentPath} (${parent.bytes.length} bytes)`,
      );
    }
    return withOrdinals(parent.base, parent.lines.filter((line) => line.end <= offset));
  }
  const entries = withOrdinals(parent.base, parent.lines);
  const endOrdinal = base.end_ordinal_exclusive;
  return endOrdinal === undefined ? entries : entries.filter((entry) => entry.ordinal < endOrdinal);
}

function withOrdinals(base: readonly Entry[], lines: readonly FileLine[]): Entry[] {
  return [...base, ...lines.map((line, i) => ({ item: line.item, ordinal: line.ordinal ?? base.length + i }))];
}
