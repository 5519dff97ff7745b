// Picks the model client for a conversation, inside its worker.
import { pathToFileURL } from "node:url";
import path from "node:path";
import type { ConversationConfig } from "../config.js";
import { InvalidConfigError } from "../errors.js";
import { createChatClient } from "./chat.js";
import { createOfflineModel, type OfflineModelOptions } from "./offline.js";
import { createResponsesClient } from "./responses.js";
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
  const provider = config.provider;
  if (provider === undefined) {
    throw new InvalidConfigError(`model provider "${config.modelProvider}" has no connection settings (see loadConfig)`);
  }
  return provider.wireApi === "chat" ? createChatClient(provider) : createResponsesClient(provider);
}
