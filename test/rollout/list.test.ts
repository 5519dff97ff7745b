import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { RolloutError } from "../../src/errors.js";
import { type RolloutItem } from "../../src/protocol/rollout.js";
import { findRolloutPathById, listConversations } from "../../src/rollout/list.js";
import { rolloutPathFor, sessionsDir } from "../../src/rollout/paths.js";
import {
  assistant,
  environmentContext,
  ID_A,
  ID_B,
  ID_C,
  ID_D,
  metaItem,
  responseItem,
  rolloutText,
  user,
  useTempDirs,
} from "./helpers.js";

const makeDir = useTempDirs();
const at = (month: number, day: number, hour: number): Date => new Date(2025, month - 1, day, hour, 0, 0);

async function writeRollout(home: string, id: string, date: Date, items: RolloutItem[]): Promise<string> {
  const path = rolloutPathFor(home, id, date);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, rolloutText(items));
  return path;
}

/** Four conversations over three days (one with two files in a day) plus files that must not be listed. */
async function populate(home: string): Promise<Record<string, string>> {
  const paths = {
    [ID_A]: await writeRollout(home, ID_A, at(9, 30, 8), [
      metaItem(ID_A),
      responseItem(environmentContext()),
      user("first"),
      assistant("a"),
    ]),
    [ID_B]: await writeRollout(home, ID_B, at(10, 2, 9), [metaItem(ID_B), user("second")]),
    [ID_C]: await writeRollout(home, ID_C, at(10, 2, 9), [metaItem(ID_C)]),
    [ID_D]: await writeRollout(home, ID_D, at(11, 17, 23), [metaItem(ID_D), user("newest"), user("later")]),
  };
  const junkId = "019a9000-0000-7000-8000-0000000000ff";
  await writeRollout(home, junkId, at(10, 5, 1), [user("no meta")]);
  await writeFile(join(dirname(paths[ID_D]), "notes.txt"), "not a rollout");
  return paths;
}

describe("listConversations", () => {
  it("lists newest first with previews from the first user message", async () => {
    const home = await makeDir();
    const paths = await populate(home);
    const page = await listConversations(home);
    expect(page.items.map((item) => [item.conversationId, item.preview])).toEqual([
      [ID_D, "newest"],
      [ID_C, undefined],
      [ID_B, "second"],
      [ID_A, "first"],
    ]);
    expect(page.items[0]).toEqual({
      conversationId: ID_D,
      path: paths[ID_D],
      createdAt: "2025-11-17T19:50:54.000Z",
      updatedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/) as unknown,
      preview: "newest",
      source: "cli",
      modelProvider: "openai",
      cwd: "/repo",
    });
    expect(page.nextCursor).toBeUndefined();
    expect(page.scannedFiles).toBe(5);
  });

  it("pages with a cursor of the last returned file", async () => {
    const home = await makeDir();
    await populate(home);
    const first = await listConversations(home, { pageSize: 2 });
    expect(first.items.map((item) => item.conversationId)).toEqual([ID_D, ID_C]);
    expect(first.nextCursor).toBe(`2025-10-02T09-00-00|${ID_C}`);

    const second = await listConversations(home, { pageSize: 2, cursor: first.nextCursor });
    expect(second.items.map((item) => item.conversationId)).toEqual([ID_B, ID_A]);
    expect(second.nextCursor).toBeUndefined();
  });

  it("skips a FIFO named like a rollout instead of waiting on it forever", async () => {
    const home = await makeDir();
    await populate(home);
    const fifo = rolloutPathFor(home, "019a9000-0000-7000-8000-0000000000ee", at(11, 20, 1));
    await mkdir(dirname(fifo), { recursive: true });
    execFileSync("mkfifo", [fifo]);
    const page = await listConversations(home);
    expect(page.items.map((item) => item.conversationId)).toEqual([ID_D, ID_C, ID_B, ID_A]);
  });

  it("returns an empty page for a home without sessions", async () => {
    expect(await listConversations(await makeDir())).toEqual({ items: [], nextCursor: undefined, scannedFiles: 0 });
  });

  it("rejects a malformed cursor", async () => {
    await expect(listConversations(await makeDir(), { cursor: "yesterday" })).rejects.toBeInstanceOf(RolloutError);
  });
});

describe("findRolloutPathById", () => {
  it("finds a file by the uuid in its name", async () => {
    const home = await makeDir();
    const paths = await populate(home);
    expect(await findRolloutPathById(home, ID_B)).toBe(paths[ID_B]);
    expect(await findRolloutPathById(home, ID_B.toUpperCase())).toBe(paths[ID_B]);
  });

  it("returns undefined for unknown or invalid ids, or a missing sessions dir", async () => {
    const home = await makeDir();
    await populate(home);
    expect(await findRolloutPathById(home, "019a9000-0000-7000-8000-000000000123")).toBeUndefined();
    expect(await findRolloutPathById(home, "../../etc")).toBeUndefined();
    expect(await findRolloutPathById(join(home, "nowhere"), ID_A)).toBeUndefined();
    expect(sessionsDir(home)).toBe(join(home, "sessions"));
  });
});
