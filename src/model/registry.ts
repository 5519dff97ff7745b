// Picks the model client for a conversation, inside its worker.
import { pathToFileURL } from "node:url";
import path from "node:path";
import type { ConversationConfig } from "../config.js";
import { InvalidConfigError } from "../errors.js";
import { createOfflineModel, type OfflineModelOptions } from "./offline.js";
import type { ModelClient } from "./types.js";

type ProviderModule = { createModelClient(config: ConversationConfig): ModelClient | Promise<ModelClient> };

export async function createModelClient(config: ConversationConfig): Promise<ModelClient> {
  if (config.modelProviderModule !== undefined) {
    const specifier = config.modelProviderModule.startsWith("file:")
      ? config.modelProviderModule
      : pathToFileURL(path.resolve(config.modelProviderModule)).href;
    const loaded = (await import(specifier)) as Partial<ProviderModule>;
    if (typeof loaded.createModelClient !== "function") {
      throw new InvalidConfigError(`model provider module ${specifier} does not export createModelClient()`);
    }
    return loaded.createModelClient(config);
  }
  if (config.modelProvider === "offline") {
    return createOfflineModel((config.modelOptions ?? {}) as OfflineModelOptions);
  }
  throw new InvalidConfigError(`unknown model provider "${config.modelProvider}" (built in: "offline")`);
}
