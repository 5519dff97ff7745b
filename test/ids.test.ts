// Ids: conversation ids are UUID v7 (time-ordered, as Codex assigns), turn item ids UUID v4, both from
// cryptographically random bytes (/dev/urandom read a pool at a time, or the global crypto).
import { describe, expect, test } from "vitest";
import { createIdSource, isUuid, randomBytes, uuidv4, uuidv7 } from "../src/util/clock.js";

const version = (uuid: string): string => uuid.charAt(14);
const variant = (uuid: string): string => uuid.charAt(19);

describe("ids", () => {
  test("item ids are UUID v4 with the RFC 9562 variant, and never repeat, across many refills of the pool", () => {
    const ids = createIdSource();
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const id = ids.itemId();
      expect(isUuid(id)).toBe(true);
      expect(version(id)).toBe("4");
      expect("89ab").toContain(variant(id));
      seen.add(id);
    }
    expect(seen.size).toBe(5_000);
  });

  test("conversation ids are UUID v7 carrying their time, ordered by it", () => {
    const a = uuidv7(Date.UTC(2026, 0, 1));
    const b = uuidv7(Date.UTC(2026, 0, 2));
    expect([version(a), version(b)]).toEqual(["7", "7"]);
    expect("89ab").toContain(variant(a));
    expect(a < b).toBe(true);
    expect(Number.parseInt(a.replace(/-/g, "").slice(0, 12), 16)).toBe(Date.UTC(2026, 0, 1));
  });

  test("random bytes are not a constant stream: consecutive draws differ and every byte value turns up", () => {
    const draws = Array.from({ length: 400 }, () => Buffer.from(randomBytes(64)));
    expect(new Set(draws.map((draw) => draw.toString("hex"))).size).toBe(400);
    const values = new Set(draws.flatMap((draw) => [...draw]));
    expect(values.size).toBe(256);
  });

  test("the version and variant bits are set whatever the random bytes", () => {
    expect(uuidv4(new Uint8Array(16).fill(0xff))).toBe("ffffffff-ffff-4fff-bfff-ffffffffffff");
    expect(uuidv4(new Uint8Array(16))).toBe("00000000-0000-4000-8000-000000000000");
  });

  test("asks for at most 64 bytes at a time", () => {
    expect(randomBytes(64)).toHaveLength(64);
    expect(randomBytes(0)).toHaveLength(0);
    expect(() => randomBytes(65)).toThrow(RangeError);
    expect(() => randomBytes(-1)).toThrow(RangeError);
  });
});
