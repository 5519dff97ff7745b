// Time and ids are injected so tests can control them (no Date.now()/randomUUID() inside logic).
import { randomBytes } from "node:crypto";

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface IdSource {
  /** A new conversation id: a time-ordered UUID v7, as Codex assigns. */
  conversationId(): string;
  /** A random UUID v4 (turn item ids). */
  itemId(): string;
}

/** RFC 9562 UUID v7: 48-bit unix milliseconds, version 7, 74 random bits. */
export function uuidv7(nowMs: number, random: Buffer = randomBytes(10)): string {
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(nowMs, 0, 6);
  random.copy(bytes, 6, 0, 10);
  bytes[6] = 0x70 | ((bytes[6] ?? 0) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function createIdSource(clock: Clock = systemClock): IdSource {
  return {
    conversationId: () => uuidv7(clock.now().getTime()),
    itemId: () => crypto.randomUUID(),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
