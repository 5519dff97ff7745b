// What the conversation remembers: its history (what the model sees) and its rollout (what is on disk), kept in
// step. `record` is the only way an item enters the conversation (Codex's record_conversation_items): response
// items join the history and the file together; a `compacted` line rebuilds the history as resume would.
import type { ResponseItem, RolloutItem } from "../protocol/index.js";
import { reconstructHistory } from "../rollout/reconstruct.js";
import type { EventSink } from "./event-sink.js";
import { ConversationHistory } from "./history.js";

export class ConversationRecord {
  private readonly history = new ConversationHistory();

  constructor(
    private readonly sink: EventSink,
    /** The messages a rebuilt history starts with (the initial context under the current settings). */
    private readonly initialContext: () => ResponseItem[],
  ) {}

  record(items: readonly RolloutItem[]): void {
    if (items.length === 0) return;
    for (const item of items) {
      if (item.type === "response_item") this.history.record([item.payload]);
      else if (item.type === "compacted") this.rebuild([...this.asRollout(), item]);
    }
    this.sink.record(items);
  }

  /** Records model-facing items (the common case). */
  recordResponseItems(items: readonly ResponseItem[]): void {
    this.record(items.map((payload) => ({ type: "response_item", payload })));
  }

  /**
   * Takes the history a session starts from: rebuilt from a resumed or forked file's items. A fork's file holds
   * a copy of what it was forked from; a resumed file already has it.
   */
  restore(items: readonly RolloutItem[], copyToRollout: boolean): void {
    this.rebuild(items);
    if (copyToRollout) this.sink.record(items);
  }

  contents(): readonly ResponseItem[] {
    return this.history.contents();
  }

  forPrompt(): ResponseItem[] {
    return this.history.forPrompt();
  }

  private rebuild(items: readonly RolloutItem[]): void {
    this.history.replace(reconstructHistory(items, this.initialContext));
  }

  private asRollout(): RolloutItem[] {
    return this.history.contents().map((payload) => ({ type: "response_item", payload }));
  }
}
