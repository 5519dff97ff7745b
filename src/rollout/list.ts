// Conversation listing and lookup by id over `<home>/sessions` (reference section 5.9).
import { readdir, type FileHandle } from "node:fs/promises";
import { basename, join } from "node:path";
import { RolloutError } from "../errors.js";
import type { SessionMeta, SessionSource } from "../protocol/rollout.js";
import { isUuid } from "../util/clock.js";
import { isUserMessage, userMessageText } from "./classify.js";
import { openRegularFileForReading } from "./guard.js";
import { parseRolloutLine } from "./line.js";
import { parseRolloutFileName, sessionsDir } from "./paths.js";

export type ConversationSummary = {
  conversationId: string;
  path: string;
  createdAt: string;
  updatedAt: string;
  preview: string | undefined;
  source: SessionSource;
  modelProvider: string | null | undefined;
  cwd: string;
  /** The conversation that started this one, for a sub-agent. */
  parentId?: string;
};

export type ConversationPage = {
  items: ConversationSummary[];
  /** Pass back as `cursor` for the next page; undefined when nothing older remains. */
  nextCursor: string | undefined;
  scannedFiles: number;
};

const DEFAULT_PAGE_SIZE = 25;
const SCAN_CAP = 10_000;
const HEAD_BYTES = 64 * 1024;
/** The session_meta line carries the base prompt (about 22 KB in Codex 0.169); read on until it is complete. */
const HEAD_MAX_BYTES = 1024 * 1024;
const HEAD_LINES = 50;

type Candidate = { path: string; timestamp: string; conversationId: string };
type Cursor = { timestamp: string; conversationId: string };

const cursorOf = (file: Cursor): string => `${file.timestamp}|${file.conversationId}`;

/** Newest first: date directories descending, then (file-name timestamp, uuid) descending. */
export async function listConversations(
  home: string,
  options: { pageSize?: number; cursor?: string } = {},
): Promise<ConversationPage> {
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const after = options.cursor === undefined ? undefined : parseCursor(home, options.cursor);
  const items: ConversationSummary[] = [];
  let scannedFiles = 0;
  let last: Candidate | undefined;
  for await (const file of candidatesNewestFirst(sessionsDir(home), after)) {
    if (items.length === pageSize || scannedFiles === SCAN_CAP) {
      return { items, nextCursor: last && cursorOf(last), scannedFiles };
    }
    scannedFiles++;
    last = file;
    const summary = await summarize(file);
    if (summary) items.push(summary);
  }
  return { items, nextCursor: undefined, scannedFiles };
}

export async function findRolloutPathById(home: string, conversationId: string): Promise<string | undefined> {
  if (!isUuid(conversationId)) return undefined;
  const suffix = `-${conversationId.toLowerCase()}.jsonl`;
  const root = sessionsDir(home);
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  const match = entries.find((entry) => basename(entry).toLowerCase().endsWith(suffix));
  return match === undefined ? undefined : join(root, match);
}

function parseCursor(home: string, cursor: string): Cursor {
  const [timestamp, conversationId, ...rest] = cursor.split("|");
  const parsed = parseRolloutFileName(`rollout-${timestamp}-${conversationId}.jsonl`);
  if (!parsed || rest.length > 0) {
    throw new RolloutError(sessionsDir(home), `invalid conversation list cursor: ${cursor}`);
  }
  return parsed;
}

const isOlder = (file: Cursor, than: Cursor): boolean =>
  file.timestamp < than.timestamp ||
  (file.timestamp === than.timestamp && file.conversationId < than.conversationId);

async function* candidatesNewestFirst(root: string, after: Cursor | undefined): AsyncGenerator<Candidate> {
  const afterDay = after?.timestamp.slice(0, 10);
  for (const year of await numericDirsDescending(root)) {
    for (const month of await numericDirsDescending(join(root, year))) {
      for (const day of await numericDirsDescending(join(root, year, month))) {
        if (afterDay !== undefined && `${year}-${month.padStart(2, "0")}-${day.padStart(2, "0")}` > afterDay) continue;
        const dir = join(root, year, month, day);
        const files = (await readdir(dir).catch(() => [] as string[]))
          .flatMap((name) => {
            const parsed = parseRolloutFileName(name);
            return parsed ? [{ path: join(dir, name), ...parsed }] : [];
          })
          .filter((file) => after === undefined || isOlder(file, after))
          .sort((a, b) => (isOlder(a, b) ? 1 : isOlder(b, a) ? -1 : 0));
        yield* files;
      }
    }
  }
}

async function numericDirsDescending(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isDirectory() && /^\d+$/.test(entry.name))
    .map((entry) => entry.name)
    .sort((a, b) => Number(b) - Number(a));
}

/** Reads only the head of the file: its session_meta and the first real user message. */
async function summarize(file: Candidate): Promise<ConversationSummary | undefined> {
  let head: string;
  let mtime: Date;
  try {
    const handle = await openRegularFileForReading(file.path);
    try {
      head = await readHead(handle);
      mtime = (await handle.stat()).mtime;
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
  let meta: SessionMeta | undefined;
  let preview: string | undefined;
  for (const text of head.split("\n").slice(0, HEAD_LINES)) {
    const line = parseRolloutLine(text);
    if (!line.ok) continue;
    const { item } = line;
    if (item.type === "session_meta") meta ??= item.payload;
    if (preview === undefined && item.type === "response_item" && item.payload.type === "message") {
      if (isUserMessage(item.payload)) preview = userMessageText(item.payload);
    }
    if (meta && preview !== undefined) break;
  }
  if (!meta) return undefined;
  const parentId = typeof meta.parent_id === "string" ? { parentId: meta.parent_id } : {};
  return {
    ...parentId,
    conversationId: meta.id,
    path: file.path,
    createdAt: meta.timestamp,
    updatedAt: mtime.toISOString(),
    preview,
    source: meta.source,
    modelProvider: meta.model_provider,
    cwd: meta.cwd,
  };
}

async function readHead(handle: FileHandle): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(chunk, 0, HEAD_BYTES, total);
    chunks.push(chunk.subarray(0, bytesRead));
    total += bytesRead;
    const hasFirstLine = chunks.some((c) => c.includes(0x0a));
    if (bytesRead < HEAD_BYTES || total >= HEAD_MAX_BYTES || hasFirstLine) break;
  }
  return Buffer.concat(chunks).toString("utf8");
}
