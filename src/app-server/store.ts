// Threads on disk: listing, lookup by id, reading, and archiving, over the llmx home's `sessions/` and
// `archived_sessions/` (Codex's layout: archiving moves the rollout file, under its own name, into the flat
// `archived_sessions/` directory; unarchiving moves it back to its date directory under `sessions/`).
import { mkdir, readdir, rename, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import {
  findRolloutPathById,
  isUserMessage,
  listConversations,
  readRolloutHistory,
  sessionsDir,
  type ConversationSummary,
  type RolloutHistory,
} from "../index.js";
import { CLI_VERSION } from "../version.js";
import { idFromRolloutName, isoSeconds, parentFromSource, unixSeconds, type ThreadFacts } from "./threads.js";

export const ARCHIVED_SESSIONS = "archived_sessions";

export const archivedDir = (home: string): string => join(home, ARCHIVED_SESSIONS);

export type StoredThread = { path: string; archived: boolean };

/** The rollout of a thread by id: under sessions/ first, then archived_sessions/. */
export async function findThread(home: string, threadId: string): Promise<StoredThread | undefined> {
  const live = await findRolloutPathById(home, threadId);
  if (live !== undefined) return { path: live, archived: false };
  const archived = await findArchived(home, threadId);
  return archived === undefined ? undefined : { path: archived, archived: true };
}

export async function findArchived(home: string, threadId: string): Promise<string | undefined> {
  const names = await readdir(archivedDir(home)).catch(() => [] as string[]);
  const name = names.find((entry) => idFromRolloutName(entry)?.toLowerCase() === threadId.toLowerCase());
  return name === undefined ? undefined : join(archivedDir(home), name);
}

export function factsFromSummary(summary: ConversationSummary): ThreadFacts {
  return {
    id: summary.conversationId,
    path: summary.path,
    cwd: summary.cwd,
    model: null,
    modelProvider: summary.modelProvider ?? "unknown",
    preview: summary.preview ?? "",
    createdAt: isoSeconds(summary.createdAt),
    updatedAt: isoSeconds(summary.updatedAt),
    source: summary.source,
    cliVersion: CLI_VERSION,
    originator: null,
    forkedFromId: null,
    parentThreadId: parentFromSource(summary.source),
    name: null,
  };
}

export async function factsFromRollout(history: RolloutHistory): Promise<ThreadFacts> {
  const meta = history.meta as typeof history.meta & { cli_version?: string; originator?: string; forked_from_id?: string };
  const first = history.items.find((item) => item.type === "response_item" && isUserMessage(item.payload));
  const preview =
    first?.type === "response_item" && first.payload.type === "message"
      ? first.payload.content.map((part) => (part.type === "input_text" ? part.text : "")).join("")
      : "";
  const modified = await stat(history.path).then((s) => unixSeconds(s.mtime)).catch(() => isoSeconds(meta.timestamp));
  const model = [...history.items].reverse().find((item) => item.type === "turn_context");
  return {
    id: history.conversationId,
    path: history.path,
    cwd: meta.cwd,
    model: model?.type === "turn_context" ? ((model.payload as { model?: string }).model ?? null) : null,
    modelProvider: meta.model_provider ?? "unknown",
    preview,
    createdAt: isoSeconds(meta.timestamp),
    updatedAt: modified,
    source: meta.source,
    cliVersion: meta.cli_version ?? CLI_VERSION,
    originator: meta.originator ?? null,
    forkedFromId: meta.forked_from_id ?? null,
    parentThreadId: parentFromSource(meta.source),
    name: null,
  };
}

export async function readThread(home: string, path: string): Promise<RolloutHistory> {
  return readRolloutHistory(path, { home });
}

/** Top-level threads under sessions/, newest first (sub-agents are listed under their parents, not here). */
export async function listStored(
  home: string,
  options: { limit: number; cursor: string | undefined; modelProviders: readonly string[] | undefined },
): Promise<{ threads: ThreadFacts[]; nextCursor: string | null }> {
  const page = await listConversations(home, { pageSize: options.limit, ...(options.cursor ? { cursor: options.cursor } : {}) });
  const providers = options.modelProviders && options.modelProviders.length > 0 ? new Set(options.modelProviders) : undefined;
  const threads = page.items
    .filter((item) => typeof item.source === "string")
    .filter((item) => providers === undefined || providers.has(item.modelProvider ?? ""))
    .map(factsFromSummary);
  return { threads, nextCursor: page.nextCursor ?? null };
}

/** Archived threads, newest first by file name (no paging: the directory is flat and read whole). */
export async function listArchived(home: string, limit: number): Promise<ThreadFacts[]> {
  const names = (await readdir(archivedDir(home)).catch(() => [] as string[]))
    .filter((name) => idFromRolloutName(name) !== undefined)
    .sort()
    .reverse()
    .slice(0, limit);
  const facts: ThreadFacts[] = [];
  for (const name of names) {
    const history = await readRolloutHistory(join(archivedDir(home), name), { home }).catch(() => undefined);
    if (history) facts.push(await factsFromRollout(history));
  }
  return facts;
}

export async function archive(home: string, path: string): Promise<string> {
  await mkdir(archivedDir(home), { recursive: true });
  const target = join(archivedDir(home), basename(path));
  await rename(path, target);
  return target;
}

/** Moves an archived rollout back to `sessions/YYYY/MM/DD/` (the date in its name). */
export async function unarchive(home: string, path: string): Promise<string> {
  const name = basename(path);
  const date = /^rollout-(\d{4})-(\d{2})-(\d{2})T/.exec(name);
  const dir = date ? join(sessionsDir(home), date[1] as string, date[2] as string, date[3] as string) : sessionsDir(home);
  await mkdir(dir, { recursive: true });
  const target = join(dir, name);
  await rename(path, target);
  return target;
}
