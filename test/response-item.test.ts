// Response items decoded without zod (src/protocol/response-item.ts) accept exactly what the zod schemas the main
// thread keeps (src/protocol/items.ts) accept: the schemas serve as the oracle over many broken variants of valid
// items. Their types must agree too (checked by tsc).
import { describe, expect, expectTypeOf, test } from "vitest";
import type * as z from "zod";
import {
  KnownResponseItem,
  OtherResponseItem,
  ResponseItem,
  type ContentItem,
  type FunctionCallItem,
  type FunctionCallOutputItem,
  type MessageItem,
  type ReasoningItem,
} from "../src/protocol/items.js";
import * as plain from "../src/protocol/response-item.js";
import { brokenVariants } from "./variants.js";

const KNOWN_TYPES = new Set([
  "message",
  "reasoning",
  "function_call",
  "function_call_output",
  "local_shell_call",
  "custom_tool_call",
  "custom_tool_call_output",
  "web_search_call",
  "ghost_snapshot",
]);

/** What the zod schemas make of a value, as parseResponseItem did before it was written by hand. */
function zodDecode(value: unknown): { ok: true; item: unknown } | { ok: false } {
  const head = OtherResponseItem.safeParse(value);
  if (!head.success) return { ok: false };
  if (!KNOWN_TYPES.has(head.data.type)) return { ok: true, item: { type: "other", original_type: head.data.type } };
  const parsed = KnownResponseItem.safeParse(value);
  return parsed.success ? { ok: true, item: parsed.data } : { ok: false };
}

const VALID: Record<string, unknown>[] = [
  { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }, { type: "input_image", image_url: "data:x" }] },
  { type: "message", role: "assistant", id: "msg_1", status: "completed", content: [{ type: "output_text", text: "ok", annotations: [] }] },
  { type: "message", role: "user", content: [] },
  { type: "reasoning", summary: [{ type: "summary_text", text: "s" }], content: [{ type: "reasoning_text", text: "r" }], encrypted_content: "e" },
  { type: "reasoning", summary: [], content: null, encrypted_content: null },
  { type: "reasoning", summary: [] },
  { type: "function_call", name: "shell", arguments: '{"command":["ls"]}', call_id: "c1", id: "fc_1" },
  { type: "function_call_output", call_id: "c1", output: "done" },
  { type: "function_call_output", call_id: "c1", output: [{ type: "input_text", text: "t" }, { type: "input_image" }] },
  { type: "local_shell_call", call_id: null, status: "completed", action: { type: "exec", command: ["ls"] } },
  { type: "local_shell_call", status: "in_progress", action: { type: "exec" } },
  { type: "custom_tool_call", call_id: "c2", name: "apply_patch", input: "*** Begin", status: "completed" },
  { type: "custom_tool_call", call_id: "c2", name: "apply_patch", input: "" },
  { type: "custom_tool_call_output", call_id: "c2", output: "ok" },
  { type: "custom_tool_call_output", call_id: "c2", output: [] },
  { type: "web_search_call", status: "completed", action: { type: "search", query: "q" } },
  { type: "web_search_call" },
  { type: "ghost_snapshot", ghost_commit: { id: "abc", parent: null } },
];

function variants(): unknown[] {
  const all: unknown[] = [];
  for (const item of VALID) {
    all.push(...brokenVariants(item));
    all.push({ ...item, extra: { nested: [1, null] }, type_hint: "kept" });
  }
  // Known types given to the wrong shape, and types that look like object keys.
  for (const type of [...KNOWN_TYPES, "other", "toString", "constructor", "__proto__", "hasOwnProperty", ""]) {
    all.push({ type });
    for (const item of VALID) all.push({ ...item, type });
  }
  all.push(undefined, null, 0, "message", [], [VALID[0]], { type: 1 }, { type: null }, { kind: "message" });
  return all;
}

describe("parseResponseItem", () => {
  test("accepts and rejects exactly what the zod schemas do, over thousands of broken items", () => {
    const cases = variants();
    expect(cases.length).toBeGreaterThan(2000);
    const disagreements = cases.flatMap((value) => {
      const expected = zodDecode(value);
      const actual = plain.parseResponseItem(value);
      if (expected.ok !== actual.ok) return [{ value, expected: expected.ok, actual }];
      if (expected.ok && actual.ok) expect(actual.item).toEqual(expected.item);
      return [];
    });
    expect(disagreements).toEqual([]);
  });

  test("keeps unknown fields, nested ones included, and returns the item itself", () => {
    const item = {
      type: "message",
      id: "msg_1",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: "hi", annotations: [{ url: "u" }], logprobs: [] }],
      metadata: { origin: "newer codex" },
    };
    const parsed = plain.parseResponseItem(item);
    expect(parsed).toEqual({ ok: true, item });
    expect(parsed.ok && parsed.item).toBe(item);
  });

  test("reads an unknown type as `other`, keeping only its name", () => {
    expect(plain.parseResponseItem({ type: "image_generation_call", result: "..." })).toEqual({
      ok: true,
      item: { type: "other", original_type: "image_generation_call" },
    });
    expect(plain.parseResponseItem({ type: "toString" })).toEqual({ ok: true, item: { type: "other", original_type: "toString" } });
  });

  test.each([
    [null, "response item is not an object with a string `type`"],
    [[{ type: "message" }], "response item is not an object with a string `type`"],
    [{ type: 7 }, "response item is not an object with a string `type`"],
    [{ type: "message", content: [] }, "role is missing (expected a string)"],
    [{ type: "message", role: "user", content: {} }, "content: expected an array, got an object"],
    [
      { type: "message", role: "user", content: [{ type: "input_text", text: "a" }, { type: "input_text" }] },
      "content[1].text is missing (expected a string)",
    ],
    [
      { type: "message", role: "user", content: [{ type: "refusal", refusal: "no" }] },
      'content[0].type: expected "input_text", "input_image" or "output_text", got "refusal"',
    ],
    [{ type: "message", role: "user", content: [], id: null }, "id: expected a string, got null"],
    [{ type: "reasoning", summary: [{ type: "summary_text", text: 1 }] }, "summary[0].text: expected a string, got 1"],
    [{ type: "function_call", name: "shell", arguments: {}, call_id: "c" }, "arguments: expected a string, got an object"],
    [{ type: "function_call_output", call_id: "c", output: 5 }, "output: expected a string or an array, got 5"],
    [{ type: "function_call_output", call_id: "c", output: ["text"] }, 'output[0]: expected an object, got "text"'],
    [{ type: "ghost_snapshot", ghost_commit: "abc" }, 'ghost_commit: expected an object, got "abc"'],
    [{ type: "local_shell_call", status: "completed", action: [] }, "action: expected an object, got an empty array"],
  ])("%j is rejected: %s", (value, error) => {
    expect(plain.parseResponseItem(value)).toEqual({ ok: false, error });
  });

  test("the zod ResponseItem schema decodes with it", () => {
    expect(ResponseItem.safeParse({ type: "future_item" }).data).toEqual({ type: "other", original_type: "future_item" });
    const failed = ResponseItem.safeParse({ type: "function_call", name: "x" });
    expect(failed.success).toBe(false);
    expect(failed.error?.issues[0]?.message).toBe("arguments is missing (expected a string)");
  });

  test("the zod schemas and the hand-written types describe the same items", () => {
    expectTypeOf<z.infer<typeof ContentItem>>().toEqualTypeOf<plain.ContentItem>();
    expectTypeOf<z.infer<typeof MessageItem>>().toEqualTypeOf<plain.MessageItem>();
    expectTypeOf<z.infer<typeof ReasoningItem>>().toEqualTypeOf<plain.ReasoningItem>();
    expectTypeOf<z.infer<typeof FunctionCallItem>>().toEqualTypeOf<plain.FunctionCallItem>();
    expectTypeOf<z.infer<typeof FunctionCallOutputItem>>().toEqualTypeOf<plain.FunctionCallOutputItem>();
    expectTypeOf<z.infer<typeof KnownResponseItem>>().toEqualTypeOf<Exclude<plain.ResponseItem, plain.OtherItem>>();
  });
});
