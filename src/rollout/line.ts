// One rollout line, decoded at the file boundary (reference sections 5.2 and 11); format.ts encodes for the writer.
import * as z from "zod";
import { parseResponseItem } from "../protocol/items.js";
import { KNOWN_EVENT_TYPES, KnownEventMsg, type UnknownEventMsg } from "../protocol/events.js";
import { CompactedItem, type RolloutItem, SessionMeta, TurnContextItem } from "../protocol/rollout.js";

export type ParsedRolloutLine =
  | { ok: true; item: RolloutItem; ordinal?: number; timestamp: string }
  | { ok: false; reason: string };

const LineEnvelope = z.looseObject({
  timestamp: z.string(),
  ordinal: z.number().int().nonnegative().optional(),
  type: z.string(),
  payload: z.unknown(),
});

const EventHead = z.looseObject({ type: z.string() });

type Decoded = { ok: true; item: RolloutItem } | { ok: false; reason: string };

function decodeWith<T>(schema: z.ZodType<T>, payload: unknown, wrap: (value: T) => RolloutItem): Decoded {
  const parsed = schema.safeParse(payload);
  return parsed.success ? { ok: true, item: wrap(parsed.data) } : { ok: false, reason: z.prettifyError(parsed.error) };
}

function decodeEvent(payload: unknown): Decoded {
  const head = EventHead.safeParse(payload);
  if (!head.success) return { ok: false, reason: "event is not an object with a string `type`" };
  // Events of types this port does not model (newer Codex) are kept verbatim rather than dropped.
  if (!KNOWN_EVENT_TYPES.has(head.data.type)) {
    return { ok: true, item: { type: "event_msg", payload: head.data as UnknownEventMsg } };
  }
  return decodeWith(KnownEventMsg, payload, (event) => ({ type: "event_msg", payload: event }));
}

function decodeItem(type: string, payload: unknown): Decoded {
  switch (type) {
    case "session_meta":
      return decodeWith(SessionMeta, payload, (meta) => ({ type, payload: meta }));
    case "turn_context":
      return decodeWith(TurnContextItem, payload, (context) => ({ type, payload: context }));
    case "compacted":
      return decodeWith(CompactedItem, payload, (compacted) => ({ type, payload: compacted }));
    case "event_msg":
      return decodeEvent(payload);
    case "response_item": {
      const result = parseResponseItem(payload);
      return result.ok ? { ok: true, item: { type, payload: result.item } } : { ok: false, reason: result.error };
    }
    default:
      return { ok: true, item: { type: "unknown", line_type: type, payload } };
  }
}

/** Decodes one line of text; failures carry a reason instead of throwing so a reader can skip and report them. */
export function parseRolloutLine(text: string): ParsedRolloutLine {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `invalid JSON: ${(error as Error).message}` };
  }
  const envelope = LineEnvelope.safeParse(json);
  if (!envelope.success) return { ok: false, reason: `not a rollout line: ${z.prettifyError(envelope.error)}` };
  const { timestamp, ordinal, type, payload } = envelope.data;
  const decoded = decodeItem(type, payload);
  if (!decoded.ok) return { ok: false, reason: `invalid ${type} payload: ${decoded.reason}` };
  return ordinal === undefined
    ? { ok: true, item: decoded.item, timestamp }
    : { ok: true, item: decoded.item, ordinal, timestamp };
}
