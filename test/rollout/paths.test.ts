import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { parseRolloutFileName, rolloutFileName, rolloutPathFor, sessionsDir } from "../../src/rollout/paths.js";
import { ID_A } from "./helpers.js";

// Built from local components so the expectations hold in any time zone.
const date = new Date(2025, 0, 5, 7, 8, 9);

describe("rollout paths", () => {
  it("names files by local time, zero padded", () => {
    expect(rolloutFileName(ID_A, date)).toBe(`rollout-2025-01-05T07-08-09-${ID_A}.jsonl`);
  });

  it("places files under sessions/YYYY/MM/DD", () => {
    expect(sessionsDir("/home/x/.codex")).toBe(join("/home/x/.codex", "sessions"));
    expect(rolloutPathFor("/h", ID_A, date)).toBe(
      join("/h", "sessions", "2025", "01", "05", `rollout-2025-01-05T07-08-09-${ID_A}.jsonl`),
    );
  });

  it("parses a name back into its timestamp and uuid", () => {
    expect(parseRolloutFileName(rolloutFileName(ID_A, date))).toEqual({
      timestamp: "2025-01-05T07-08-09",
      conversationId: ID_A,
    });
  });

  it("rejects names that do not follow the pattern", () => {
    for (const name of [
      `rollout-2025-01-05T07-08-09-${ID_A}.json`,
      `session-2025-01-05T07-08-09-${ID_A}.jsonl`,
      "rollout-2025-01-05T07-08-09-not-a-uuid.jsonl",
      `rollout-2025-01-05-${ID_A}.jsonl`,
      `rollout-2025-01-05T07-08-09x-${ID_A}.jsonl`,
    ]) {
      expect(parseRolloutFileName(name), name).toBeUndefined();
    }
  });
});
