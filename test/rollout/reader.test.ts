import { describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EmptyRolloutError, MissingSessionMetaError, RolloutNotFoundError } from "../../src/errors.js";
import { parseRolloutLine, readRolloutHistory } from "../../src/rollout/reader.js";
import { assistant, eventItem, ID_A, ID_B, metaItem, rolloutText, user, useTempDirs } from "./helpers.js";

const makeDir = useTempDirs();

async function writeRollout(text: string): Promise<string> {
  const path = join(await makeDir(), "rollout.jsonl");
  await writeFile(path, text);
  return path;
}

const line = (value: unknown): string => `${JSON.stringify(value)}\n`;
const TS = "2025-11-17T19:50:54.123Z";
const typed = (type: string, payload: unknown): string => line({ timestamp: TS, type, payload });

describe("parseRolloutLine", () => {
  it("decodes a line with its ordinal and timestamp", () => {
    const payload = { type: "message", role: "user", content: [] };
    expect(parseRolloutLine(line({ timestamp: TS, ordinal: 3, type: "response_item", payload }))).toEqual({
      ok: true,
      item: { type: "response_item", payload },
      ordinal: 3,
      timestamp: TS,
    });
  });

  it("keeps unknown line types, unknown event types and unknown response item types", () => {
    expect(parseRolloutLine(line({ timestamp: TS, type: "world_state", payload: { full: true } }))).toEqual({
      ok: true,
      item: { type: "unknown", line_type: "world_state", payload: { full: true } },
      timestamp: TS,
    });
    const futureEvent = { type: "task_started_v9", x: 1 };
    expect(parseRolloutLine(line({ timestamp: TS, type: "event_msg", payload: futureEvent }))).toMatchObject({
      ok: true,
      item: { type: "event_msg", payload: futureEvent },
    });
    const futureItem = { type: "image_generation_call" };
    expect(parseRolloutLine(line({ timestamp: TS, type: "response_item", payload: futureItem }))).toMatchObject({
      ok: true,
      item: { type: "response_item", payload: { type: "other", original_type: "image_generation_call" } },
    });
  });

  it("reads error events with llmx's `code` and without it (as Codex writes them)", () => {
    for (const payload of [
      { type: "error", message: "cannot start a sub-agent", code: "subagent_depth" },
      { type: "error", message: "stream disconnected" },
    ]) {
      expect(parseRolloutLine(typed("event_msg", payload))).toEqual({ ok: true, item: { type: "event_msg", payload }, timestamp: TS });
    }
  });

  it.each([
    ["not JSON", "{nope", /invalid JSON/],
    ["JSON that is not a line", "[1,2]", /not a rollout line/],
    ["a line without a timestamp", line({ type: "compacted", payload: { message: "s" } }), /not a rollout line/],
    ["a known event with bad fields", typed("event_msg", { type: "agent_message", message: 5 }), /invalid event_msg/],
    ["a known response item with bad fields", typed("response_item", { type: "message", role: "user" }), /invalid response_item/],
    ["a bad session_meta", typed("session_meta", { id: "not-a-uuid" }), /invalid session_meta payload/],
    ["a bad turn_context", typed("turn_context", { cwd: "/" }), /invalid turn_context payload/],
    ["a bad compacted item", typed("compacted", {}), /invalid compacted payload/],
  ])("rejects %s with a reason", (_name, text, reason) => {
    const parsed = parseRolloutLine(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });
});

describe("readRolloutHistory", () => {
  it("returns the items in file order with the first session_meta's id", async () => {
    const items = [
      metaItem(ID_A),
      user("hi"),
      eventItem({ type: "agent_message", message: "hello" }),
      assistant("hello"),
      metaItem(ID_B),
    ];
    const path = await writeRollout(rolloutText(items));
    expect(await readRolloutHistory(path)).toEqual({
      conversationId: ID_A,
      meta: items[0]?.payload,
      items,
      skipped: [],
      path,
    });
  });

  it("skips blank lines silently and records junk lines with their 1-based numbers", async () => {
    const [meta, hi, hello] = [metaItem(ID_A), user("hi"), assistant("hello")];
    const text = [
      rolloutText([meta]),
      "not json at all\n",
      "\n   \n",
      line({ timestamp: TS, type: "event_msg", payload: { type: "agent_message" } }),
      rolloutText([hi]),
      line({ timestamp: TS, type: "response_item", payload: "nope" }),
      rolloutText([hello]).trimEnd(),
    ].join("");
    const history = await readRolloutHistory(await writeRollout(text));
    expect(history.items).toEqual([meta, hi, hello]);
    expect(history.skipped.map((entry) => entry.line)).toEqual([2, 5, 7]);
    expect(history.skipped.every((entry) => entry.reason.length > 0)).toBe(true);
  });

  it("fails without a session_meta, reporting how many lines were skipped", async () => {
    const path = await writeRollout(`${rolloutText([user("hi")])}junk\n`);
    const error = await readRolloutHistory(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingSessionMetaError);
    expect(error).toMatchObject({ path, skippedLines: 1 });
  });

  it("fails on an empty or whitespace-only file", async () => {
    await expect(readRolloutHistory(await writeRollout(""))).rejects.toBeInstanceOf(EmptyRolloutError);
    await expect(readRolloutHistory(await writeRollout(" \n\n\t\n"))).rejects.toBeInstanceOf(EmptyRolloutError);
  });

  it("fails on a missing file", async () => {
    const path = join(await makeDir(), "missing.jsonl");
    await expect(readRolloutHistory(path)).rejects.toBeInstanceOf(RolloutNotFoundError);
  });
});
