// Forks stored by reference (Codex 0.169): a child's history_base points into its parent's file.
import { describe, expect, it } from "vitest";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { RolloutHistoryBaseError } from "../../src/errors.js";
import { type HistoryBase, type RolloutItem } from "../../src/protocol/rollout.js";
import { readRolloutHistory } from "../../src/rollout/reader.js";
import { rolloutPathFor } from "../../src/rollout/paths.js";
import { assistant, ID_A, ID_B, ID_C, ID_D, metaItem, rolloutText, user, useTempDirs } from "./helpers.js";

const makeDir = useTempDirs();
const day = (n: number): Date => new Date(2025, 10, n, 12, 0, 0);

async function writeThread(home: string, id: string, date: Date, text: string): Promise<string> {
  const path = rolloutPathFor(home, id, date);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
  return path;
}

/** Byte offset just past the first `lines` lines of a file. */
async function offsetAfterLines(path: string, lines: number): Promise<number> {
  const text = await readFile(path, "utf8");
  return Buffer.byteLength(text.split("\n").slice(0, lines).join("\n")) + 1;
}

const parentItems: RolloutItem[] = [
  metaItem(ID_A),
  user("p1"),
  assistant("pa1"),
  user("p2"),
  assistant("pa2"),
  user("p3"),
];

async function setup(): Promise<{ home: string; parentPath: string }> {
  const home = await makeDir();
  return { home, parentPath: await writeThread(home, ID_A, day(1), rolloutText(parentItems)) };
}

/** A fork's file: its meta pointing at `base`, then its own items, numbered on from the parent. */
function child(id: string, base: HistoryBase, firstOrdinal: number, own: RolloutItem[]): {
  meta: RolloutItem;
  text: string;
} {
  const meta = metaItem(id, { history_base: base });
  return { meta, text: rolloutText([meta, ...own], firstOrdinal) };
}

describe("forks stored by reference", () => {
  it("prepends the parent's lines before end_byte_offset", async () => {
    const { home, parentPath } = await setup();
    const base = { thread_id: ID_A, end_ordinal_exclusive: 3, end_byte_offset: await offsetAfterLines(parentPath, 3) };
    const { meta, text } = child(ID_B, base, 3, [user("c1")]);
    const childPath = await writeThread(home, ID_B, day(2), text);

    const history = await readRolloutHistory(childPath);
    expect(history.conversationId).toBe(ID_B);
    expect(history.items).toEqual([...parentItems.slice(0, 3), meta, user("c1")]);
  });

  it("cuts by byte offset even if the parent file has grown since", async () => {
    const { home, parentPath } = await setup();
    const base = { thread_id: ID_A, end_byte_offset: await offsetAfterLines(parentPath, 2) };
    await writeFile(parentPath, rolloutText([user("later")], parentItems.length), { flag: "a" });
    const { meta, text } = child(ID_B, base, 2, []);
    const history = await readRolloutHistory(await writeThread(home, ID_B, day(2), text));
    expect(history.items).toEqual([...parentItems.slice(0, 2), meta]);
  });

  it("with only end_ordinal_exclusive, takes the parent's items below that ordinal", async () => {
    const { home } = await setup();
    const { meta, text } = child(ID_B, { thread_id: ID_A, end_ordinal_exclusive: 4 }, 4, [user("c1")]);
    const history = await readRolloutHistory(await writeThread(home, ID_B, day(2), text));
    expect(history.items).toEqual([...parentItems.slice(0, 4), meta, user("c1")]);
  });

  it("resolves a fork of a fork", async () => {
    const { home } = await setup();
    const b = child(ID_B, { thread_id: ID_A, end_ordinal_exclusive: 4 }, 4, [user("b1"), assistant("ba1")]);
    const bPath = await writeThread(home, ID_B, day(2), b.text);

    // C forks B after B's meta and first own line: ordinals 0-3 from A, 4-5 from B.
    const c = child(ID_C, { thread_id: ID_B, end_byte_offset: await offsetAfterLines(bPath, 2) }, 6, [user("c1")]);
    const cHistory = await readRolloutHistory(await writeThread(home, ID_C, day(3), c.text));
    expect(cHistory.conversationId).toBe(ID_C);
    expect(cHistory.items).toEqual([...parentItems.slice(0, 4), b.meta, user("b1"), c.meta, user("c1")]);

    const d = child(ID_D, { thread_id: ID_B, end_ordinal_exclusive: 5 }, 5, []);
    const dHistory = await readRolloutHistory(await writeThread(home, ID_D, day(3), d.text));
    expect(dHistory.items).toEqual([...parentItems.slice(0, 4), b.meta, d.meta]);
  });

  it("fails when the offset is not on a line boundary", async () => {
    const { home, parentPath } = await setup();
    const base = { thread_id: ID_A, end_byte_offset: (await offsetAfterLines(parentPath, 2)) + 5 };
    const path = await writeThread(home, ID_B, day(2), child(ID_B, base, 2, []).text);
    await expect(readRolloutHistory(path)).rejects.toThrow(RolloutHistoryBaseError);
    await expect(readRolloutHistory(path)).rejects.toThrow(/not a line boundary/);
  });

  it("fails when the offset is past the end of the parent", async () => {
    const { home, parentPath } = await setup();
    const base = { thread_id: ID_A, end_byte_offset: (await readFile(parentPath)).length + 1 };
    const path = await writeThread(home, ID_B, day(2), child(ID_B, base, 2, []).text);
    await expect(readRolloutHistory(path)).rejects.toThrow(RolloutHistoryBaseError);
  });

  it("fails, naming the id, when the parent cannot be found", async () => {
    const home = await makeDir();
    const { text } = child(ID_B, { thread_id: ID_C, end_byte_offset: 0 }, 0, []);
    const path = await writeThread(home, ID_B, day(2), text);
    const error = await readRolloutHistory(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RolloutHistoryBaseError);
    expect((error as Error).message).toContain(ID_C);
  });

  it("looks the parent up under an explicit home", async () => {
    const { home } = await setup();
    const elsewhere = `${await makeDir()}/child.jsonl`;
    await writeFile(elsewhere, child(ID_B, { thread_id: ID_A, end_ordinal_exclusive: 2 }, 2, []).text);
    await expect(readRolloutHistory(elsewhere)).rejects.toThrow(RolloutHistoryBaseError);
    expect((await readRolloutHistory(elsewhere, { home })).items.slice(0, 2)).toEqual(parentItems.slice(0, 2));
  });

  it("fails on a cycle of history bases", async () => {
    const home = await makeDir();
    await writeThread(home, ID_A, day(1), child(ID_A, { thread_id: ID_B }, 0, []).text);
    const bPath = await writeThread(home, ID_B, day(2), child(ID_B, { thread_id: ID_A }, 0, []).text);
    await expect(readRolloutHistory(bPath)).rejects.toThrow(/cycle/);
  });
});
