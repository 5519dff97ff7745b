// Builders shared by the rollout tests: items, session metas, a fixed clock and throwaway homes.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { type MessageItem, type ResponseItem } from "../../src/protocol/items.js";
import { type EventMsg } from "../../src/protocol/events.js";
import { type HistoryBase, type RolloutItem, type SessionMeta } from "../../src/protocol/rollout.js";
import { type Clock, ManualClock } from "../../src/util/clock.js";
import { formatRolloutLine } from "../../src/rollout/format.js";

export const FIXED_NOW = new Date("2025-11-17T19:50:54.123Z");
export const fixedClock: Clock = new ManualClock(FIXED_NOW);

export const ID_A = "019a9000-0000-7000-8000-00000000000a";
export const ID_B = "019a9000-0000-7000-8000-00000000000b";
export const ID_C = "019a9000-0000-7000-8000-00000000000c";
export const ID_D = "019a9000-0000-7000-8000-00000000000d";

export function message(role: string, text: string, part: "input_text" | "output_text" = "input_text"): MessageItem {
  return { type: "message", role, content: [{ type: part, text }] };
}
export const userMsg = (text: string): MessageItem => message("user", text);
export const assistantMsg = (text: string): MessageItem => message("assistant", text, "output_text");

export const responseItem = (payload: ResponseItem): RolloutItem => ({ type: "response_item", payload });
export const eventItem = (payload: EventMsg): RolloutItem => ({ type: "event_msg", payload });
export const user = (text: string): RolloutItem => responseItem(userMsg(text));
export const assistant = (text: string): RolloutItem => responseItem(assistantMsg(text));

export const environmentContext = (cwd = "/repo"): MessageItem =>
  userMsg(`<environment_context>\n  <cwd>${cwd}</cwd>\n  <shell>zsh</shell>\n</environment_context>`);
export const agentsInstructions = (cwd = "/repo"): MessageItem =>
  userMsg(`# AGENTS.md instructions for ${cwd}\n\n<INSTRUCTIONS>\nbe terse\n</INSTRUCTIONS>`);

export function sessionMeta(id: string, extra: { history_base?: HistoryBase } = {}): SessionMeta {
  return {
    id,
    timestamp: "2025-11-17T19:50:54.000Z",
    cwd: "/repo",
    originator: "llmx_test",
    cli_version: "0.1.0",
    instructions: null,
    source: "cli",
    model_provider: "openai",
    ...extra,
  };
}
export const metaItem = (id: string, extra: { history_base?: HistoryBase } = {}): RolloutItem => ({
  type: "session_meta",
  payload: sessionMeta(id, extra),
});

/** Rollout file text for `items`, numbered from `firstOrdinal` like Codex 0.169 writes them. */
export function rolloutText(items: readonly RolloutItem[], firstOrdinal = 0): string {
  return items.map((item, i) => formatRolloutLine(item, FIXED_NOW, firstOrdinal + i)).join("");
}

/** Returns a maker of temporary directories that are removed after each test. */
export function useTempDirs(): () => Promise<string> {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), "llmx-rollout-"));
    dirs.push(dir);
    return dir;
  };
}
