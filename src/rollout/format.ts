// Encodes one rollout line for the writer. Apart from the decoder (line.ts) so that writing a rollout loads no
// schema library; the decoder is loaded where a file is read.
import type { RolloutItem } from "../protocol/rollout.js";

/** `{"timestamp","ordinal","type","payload"}` in that key order, newline terminated. */
export function formatRolloutLine(item: RolloutItem, timestamp: Date, ordinal: number): string {
  const type = item.type === "unknown" ? item.line_type : item.type;
  return `${JSON.stringify({ timestamp: timestamp.toISOString(), ordinal, type, payload: item.payload })}\n`;
}
