import { describe, expect, it } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RolloutError, RolloutNotFoundError } from "../../src/errors.js";
import { type RolloutItem } from "../../src/protocol/rollout.js";
import { readRolloutHistory } from "../../src/rollout/reader.js";
import { RolloutRecorder } from "../../src/rollout/recorder.js";
import { assistant, eventItem, fixedClock, ID_A, metaItem, sessionMeta, user, useTempDirs } from "./helpers.js";

const makeDir = useTempDirs();

async function rolloutPath(): Promise<string> {
  return join(await makeDir(), "sessions", "2025", "11", "17", `rollout-2025-11-17T19-50-54-${ID_A}.jsonl`);
}

async function rawLines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, "utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("RolloutRecorder", () => {
  it("writes the session_meta line first, in Codex's line format", async () => {
    const path = await rolloutPath();
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    await recorder.close();
    const payload = JSON.stringify(sessionMeta(ID_A));
    expect(await readFile(path, "utf8")).toBe(
      `{"timestamp":"2025-11-17T19:50:54.123Z","ordinal":0,"type":"session_meta","payload":${payload}}\n`,
    );
  });

  it("round-trips what it writes through the reader, ids and unknown fields included", async () => {
    const path = await rolloutPath();
    const items: RolloutItem[] = [
      {
        type: "response_item",
        payload: { type: "message", id: "msg_1", role: "user", content: [{ type: "input_text", text: "hi" }], extra: { a: 1 } },
      },
      eventItem({ type: "user_message", message: "hi", images: [] }),
      {
        type: "turn_context",
        payload: { cwd: "/repo", approval_policy: "never", sandbox_policy: { mode: "read-only" }, model: "m", summary: "auto" },
      },
      assistant("hello"),
      { type: "compacted", payload: { message: "summary" } },
    ];
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    await recorder.write(items.slice(0, 2));
    await recorder.write(items.slice(2));
    await recorder.close();

    const history = await readRolloutHistory(path);
    expect(history.items).toEqual([metaItem(ID_A), ...items]);
    expect((await rawLines(path)).map((line) => line.ordinal)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("writes only what the persistence policy keeps", async () => {
    const path = await rolloutPath();
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    await recorder.write([
      eventItem({ type: "agent_message_delta", delta: "hel" }),
      eventItem({ type: "agent_message", message: "hello" }),
      { type: "response_item", payload: { type: "other", original_type: "future" } },
      { type: "unknown", line_type: "world_state", payload: {} },
      eventItem({ type: "task_complete", last_agent_message: "hello" }),
    ]);
    await recorder.write([eventItem({ type: "agent_reasoning_delta", delta: "x" })]);
    await recorder.close();
    expect((await readRolloutHistory(path)).items).toEqual([
      metaItem(ID_A),
      eventItem({ type: "agent_message", message: "hello" }),
    ]);
  });

  it("continues the ordinals after a resume, without a second meta line", async () => {
    const path = await rolloutPath();
    const first = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    await first.write([user("one"), assistant("a")]);
    await first.close();

    const resumed = await RolloutRecorder.resume({ path, clock: fixedClock });
    expect(resumed.path).toBe(path);
    await resumed.write([user("two")]);
    await resumed.close();

    expect((await rawLines(path)).map((line) => [line.ordinal, line.type])).toEqual([
      [0, "session_meta"],
      [1, "response_item"],
      [2, "response_item"],
      [3, "response_item"],
    ]);
    expect((await readRolloutHistory(path)).items).toEqual([metaItem(ID_A), user("one"), assistant("a"), user("two")]);
  });

  it("counts the lines of a file written without ordinals", async () => {
    const path = join(await makeDir(), "legacy.jsonl");
    const legacy = [metaItem(ID_A), user("one")].map((item) => JSON.stringify({ timestamp: "t", ...item }));
    await writeFile(path, `${legacy.join("\n")}\n\n`);
    const resumed = await RolloutRecorder.resume({ path, clock: fixedClock });
    await resumed.write([assistant("a")]);
    await resumed.close();
    expect((await rawLines(path)).at(-1)?.ordinal).toBe(2);
  });

  it("finds the last ordinal beyond the first tail chunk", async () => {
    const path = await rolloutPath();
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    await recorder.write([user("x".repeat(200_000)), assistant("y".repeat(150_000))]);
    await recorder.close();
    const resumed = await RolloutRecorder.resume({ path, clock: fixedClock });
    await resumed.write([user("z")]);
    await resumed.close();
    expect((await rawLines(path)).map((line) => line.ordinal)).toEqual([0, 1, 2, 3]);
  });

  it("starts a new line after a torn last line", async () => {
    const path = await rolloutPath();
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    await recorder.write([user("one")]);
    await recorder.close();
    await writeFile(path, '{"timestamp":"2025-11-17T19:50:54.123Z","ordinal":2,"ty', { flag: "a" });

    const resumed = await RolloutRecorder.resume({ path, clock: fixedClock });
    await resumed.write([user("two")]);
    await resumed.close();
    const history = await readRolloutHistory(path);
    expect(history.items).toEqual([metaItem(ID_A), user("one"), user("two")]);
    expect(history.skipped.map((entry) => entry.line)).toEqual([3]);
  });

  it("resumes after a last line of several megabytes, with blank lines and a torn tail after it", async () => {
    const path = await rolloutPath();
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    const big = user(`${"é".repeat(1_500_000)}\n${"b".repeat(1_000_000)}`);
    await recorder.write([user("one"), big]);
    await recorder.close();
    await writeFile(path, '\n  \n{"timestamp":"2025-11-17T19:50:54.123Z","ordinal":3,"ty', { flag: "a" });

    const resumed = await RolloutRecorder.resume({ path, clock: fixedClock });
    await resumed.write([user("two")]);
    await resumed.close();
    const history = await readRolloutHistory(path);
    expect(history.items).toEqual([metaItem(ID_A), user("one"), big, user("two")]);
    expect((await readFile(path, "utf8")).split("\n").flatMap((line) => {
      try {
        return [(JSON.parse(line) as { ordinal: number }).ordinal];
      } catch {
        return [];
      }
    })).toEqual([0, 1, 2, 3]);
  });

  it("serializes concurrent writes so lines never interleave", async () => {
    const path = await rolloutPath();
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    const batches = Array.from({ length: 40 }, (_, i) => [
      user(`${i}:${"u".repeat(20_000)}`),
      assistant(`${i}:${"a".repeat(20_000)}`),
    ]);
    await Promise.all(batches.map((batch) => recorder.write(batch)));
    await recorder.close();

    const lines = await rawLines(path);
    expect(lines.map((line) => line.ordinal)).toEqual(Array.from({ length: 81 }, (_, i) => i));
    expect((await readRolloutHistory(path)).items).toEqual([metaItem(ID_A), ...batches.flat()]);
  });

  it("close waits for pending writes; writing after close fails", async () => {
    const path = await rolloutPath();
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    const pending = recorder.write([user("last")]);
    await recorder.close();
    await pending;
    expect((await readRolloutHistory(path)).items).toEqual([metaItem(ID_A), user("last")]);
    await expect(recorder.write([user("late")])).rejects.toBeInstanceOf(RolloutError);
    await expect(recorder.close()).resolves.toBeUndefined();
  });

  it("refuses to resume a missing file", async () => {
    await expect(RolloutRecorder.resume({ path: await rolloutPath(), clock: fixedClock })).rejects.toBeInstanceOf(
      RolloutNotFoundError,
    );
  });
});
