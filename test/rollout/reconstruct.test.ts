import { describe, expect, it } from "vitest";
import { type ResponseItem } from "../../src/protocol/items.js";
import { type RolloutItem } from "../../src/protocol/rollout.js";
import { userMessageText } from "../../src/rollout/classify.js";
import { initialMessages, reconstructHistory, truncateMiddle } from "../../src/rollout/reconstruct.js";
import {
  assistant,
  assistantMsg,
  environmentContext,
  eventItem,
  ID_A,
  message,
  metaItem,
  responseItem,
  user,
  userMsg,
} from "./helpers.js";

const initialContext = (): ResponseItem[] => [environmentContext("/now")];
const compacted = (summary: string): RolloutItem => ({ type: "compacted", payload: { message: summary } });

describe("reconstructHistory", () => {
  it("appends response items, skipping system messages, `other` items and non-history lines", () => {
    const items: RolloutItem[] = [
      metaItem(ID_A),
      responseItem(environmentContext()),
      responseItem(message("system", "sys")),
      user("hi"),
      eventItem({ type: "agent_message", message: "hello" }),
      responseItem({ type: "other", original_type: "future_item" }),
      assistant("hello"),
    ];
    expect(reconstructHistory(items, initialContext)).toEqual([
      environmentContext(),
      userMsg("hi"),
      assistantMsg("hello"),
    ]);
  });

  it("replaces the history at a compaction with the context, the user messages so far and the summary", () => {
    const items = [
      responseItem(environmentContext()),
      user("one"),
      assistant("a"),
      user("two"),
      compacted("summary"),
      user("three"),
    ];
    expect(reconstructHistory(items, initialContext)).toEqual([
      environmentContext("/now"),
      userMsg("one"),
      userMsg("two"),
      userMsg("summary"),
      userMsg("three"),
    ]);
  });

  it("uses a placeholder for an empty summary", () => {
    expect(reconstructHistory([user("one"), compacted("")], initialContext)).toEqual([
      environmentContext("/now"),
      userMsg("one"),
      userMsg("(no summary available)"),
    ]);
  });

  it("keeps the newest user messages within 80,000 bytes, middle-truncating the one that crosses", () => {
    const older = `${"a".repeat(25_000)}${"b".repeat(25_000)}`;
    const newer = "n".repeat(50_000);
    const history = reconstructHistory([user("oldest"), user(older), user(newer), compacted("s")], initialContext);
    const texts = history.map((item) => (item.type === "message" ? userMessageText(item) : ""));
    expect(texts).toHaveLength(4);
    const [, truncated, kept, summary] = texts;
    expect(kept).toBe(newer);
    expect(summary).toBe("s");
    expect(Buffer.byteLength(truncated ?? "")).toBeLessThanOrEqual(30_000);
    expect(truncated).toMatch(/^a+…truncated…b+$/);
  });
});

describe("truncateMiddle", () => {
  it("keeps short text and never splits a multi-byte character", () => {
    expect(truncateMiddle("short", 10)).toBe("short");
    const cut = truncateMiddle("é".repeat(100), 40);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(40);
    expect(cut).toMatch(/^é+…truncated…é+$/);
  });
});

describe("initialMessages", () => {
  it("returns every event payload in order, unknown event types included", () => {
    const items: RolloutItem[] = [
      metaItem(ID_A),
      eventItem({ type: "user_message", message: "hi", images: [] }),
      user("hi"),
      { type: "event_msg", payload: { type: "thread_settings_applied", thread_id: ID_A } },
      eventItem({ type: "agent_message", message: "hello" }),
    ];
    expect(initialMessages(items)).toEqual([
      { type: "user_message", message: "hi", images: [] },
      { type: "thread_settings_applied", thread_id: ID_A },
      { type: "agent_message", message: "hello" },
    ]);
  });
});
