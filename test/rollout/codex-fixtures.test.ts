import { describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { type RolloutItem } from "../../src/protocol/rollout.js";
import { isUserMessage, userMessageText } from "../../src/rollout/classify.js";
import { readRolloutHistory } from "../../src/rollout/reader.js";
import { truncateBeforeNthUserMessage } from "../../src/rollout/truncate.js";

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/codex-rollouts/${name}`, import.meta.url));

/** Real Codex CLI 0.169.0 files, copied from the reference rollouts the project was started from (README beside them). */
const FIXTURES = [
  {
    file: "exec-a-two-turn-resume.jsonl",
    id: "01a20ac5-73ac-7500-b99c-82674d8e6a5d",
    lines: 24,
    responseItems: 6,
    worldState: 1,
    tokenUsageRecords: 2,
    prompts: ["Hello, this is turn one.", "This is turn two."],
  },
  {
    file: "exec-b-shell-tool-call-nosandbox-then-resumed-plain-turn.jsonl",
    id: "01a20ac5-77ab-7261-a562-c81964e17038",
    lines: 33,
    responseItems: 10,
    worldState: 2,
    tokenUsageRecords: 3,
    prompts: ["Please RUNSHELL: run echo hi", "Thanks, and one more plain turn."],
  },
  {
    file: "appserver-d-plain-turn-then-shell-tool-turn-then-resumed-turn.jsonl",
    id: "01a20ac6-9eef-78f3-9c2c-3bb5198f88b0",
    lines: 37,
    responseItems: 10,
    worldState: 1,
    tokenUsageRecords: 4,
    prompts: [
      "App-server turn one.",
      "App-server turn two: RUNSHELL please run echo hi",
      "Turn after thread/resume in a new app-server.",
    ],
  },
];

const userPrompts = (items: readonly RolloutItem[]): string[] =>
  items.flatMap((item) =>
    item.type === "response_item" && item.payload.type === "message" && isUserMessage(item.payload)
      ? [userMessageText(item.payload)]
      : [],
  );

const count = (items: readonly RolloutItem[], predicate: (item: RolloutItem) => boolean): number =>
  items.filter(predicate).length;

describe.each(FIXTURES)("Codex 0.169 rollout $file", (expected) => {
  it("reads every line, keeping unknown line types", async () => {
    const history = await readRolloutHistory(fixture(expected.file));
    expect(history.conversationId).toBe(expected.id);
    expect(history.meta.id).toBe(expected.id);
    expect(history.skipped).toEqual([]);
    expect(history.items).toHaveLength(expected.lines);
    expect(history.items[0]?.type).toBe("session_meta");
    expect(count(history.items, (item) => item.type === "response_item")).toBe(expected.responseItems);
    const unknownOfType = (type: string) => (item: RolloutItem) => item.type === "unknown" && item.line_type === type;
    expect(count(history.items, unknownOfType("world_state"))).toBe(expected.worldState);
    expect(count(history.items, unknownOfType("token_usage_record"))).toBe(expected.tokenUsageRecords);
    const unknownLines = count(history.items, (item) => item.type === "unknown");
    expect(unknownLines).toBe(expected.worldState + expected.tokenUsageRecords);
  });

  it("classifies exactly the real prompts as user messages", async () => {
    const history = await readRolloutHistory(fixture(expected.file));
    expect(userPrompts(history.items)).toEqual(expected.prompts);
  });

  it("keeps everything before the second prompt when forking at n=1", async () => {
    const { items } = await readRolloutHistory(fixture(expected.file));
    const second = items.findIndex(
      (item) =>
        item.type === "response_item" &&
        item.payload.type === "message" &&
        userMessageText(item.payload) === expected.prompts[1],
    );
    expect(second).toBeGreaterThan(0);
    expect(truncateBeforeNthUserMessage(items, 1)).toEqual({ type: "forked", items: items.slice(0, second) });
    expect(truncateBeforeNthUserMessage(items, expected.prompts.length)).toEqual({ type: "new" });
  });
});
