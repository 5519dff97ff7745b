// Rebuilds in-memory model history and replayable events from rollout items (reference sections 5.7, 5.8).
import type { EventMsg, UnknownEventMsg } from "../protocol/events.js";
import type { MessageItem, ResponseItem } from "../protocol/items.js";
import type { RolloutItem } from "../protocol/rollout.js";
import { isUserMessage, userMessageText } from "./classify.js";

/** Total size of the user messages a compaction keeps (Codex `COMPACT_USER_MESSAGE_MAX_TOKENS * 4`). */
export const COMPACTED_USER_MESSAGES_MAX_BYTES = 80_000;
const NO_SUMMARY = "(no summary available)";

const userText = (text: string): MessageItem => ({
  type: "message",
  role: "user",
  content: [{ type: "input_text", text }],
});

export function reconstructHistory(
  items: readonly RolloutItem[],
  initialContext: () => ResponseItem[],
): ResponseItem[] {
  let history: ResponseItem[] = [];
  for (const item of items) {
    if (item.type === "response_item") {
      const { payload } = item;
      if (payload.type === "other" || (payload.type === "message" && payload.role === "system")) continue;
      history.push(payload);
    } else if (item.type === "compacted") {
      const userMessages = history.flatMap((entry) =>
        entry.type === "message" && isUserMessage(entry) ? [userMessageText(entry)] : [],
      );
      history = [
        ...initialContext(),
        ...newestWithinBudget(userMessages, COMPACTED_USER_MESSAGES_MAX_BYTES).map(userText),
        userText(item.payload.message === "" ? NO_SUMMARY : item.payload.message),
      ];
    }
  }
  return history;
}

export function initialMessages(items: readonly RolloutItem[]): (EventMsg | UnknownEventMsg)[] {
  return items.flatMap((item) => (item.type === "event_msg" ? [item.payload] : []));
}

/** Keeps the newest messages that fit in `budget` bytes; the one crossing the limit is middle-truncated. */
function newestWithinBudget(messages: readonly string[], budget: number): string[] {
  const kept: string[] = [];
  let remaining = budget;
  for (let i = messages.length - 1; i >= 0 && remaining > 0; i--) {
    const message = messages[i] ?? "";
    const size = Buffer.byteLength(message, "utf8");
    if (size <= remaining) {
      kept.push(message);
      remaining -= size;
    } else {
      kept.push(truncateMiddle(message, remaining));
      break;
    }
  }
  return kept.reverse();
}

/** Shortens `text` to at most `maxBytes` UTF-8 bytes, keeping its start and end around a marker. */
export function truncateMiddle(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  const marker = "…truncated…";
  const markerBytes = Buffer.byteLength(marker, "utf8");
  if (markerBytes >= maxBytes) return utf8Prefix(bytes, maxBytes);
  const keep = maxBytes - markerBytes;
  const head = utf8Prefix(bytes, Math.ceil(keep / 2));
  const tail = utf8Suffix(bytes, keep - Buffer.byteLength(head, "utf8"));
  return `${head}${marker}${tail}`;
}

const isContinuationByte = (byte: number | undefined): boolean => byte !== undefined && (byte & 0xc0) === 0x80;

function utf8Prefix(bytes: Buffer, length: number): string {
  let end = length;
  while (end > 0 && isContinuationByte(bytes[end])) end--;
  return bytes.toString("utf8", 0, end);
}

function utf8Suffix(bytes: Buffer, length: number): string {
  let start = bytes.length - length;
  while (start < bytes.length && isContinuationByte(bytes[start])) start++;
  return bytes.toString("utf8", start);
}
