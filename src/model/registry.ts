// Picks the model client for a conversation, inside its worker.
import { pathToFileURL } from "node:url";
import path from "node:path";
import type { ConversationConfig } from "../config.js";
import { importModule } from "../util/import-module.js";
import { InvalidConfigError } from "../errors.js";
import { knownContextWindow } from "./context-window.js";
import { createOfflineModel, type OfflineModelOptions } from "./offline.js";
import type { ModelProviderInfo } from "./provider-info.js";
import type { ModelClient } from "./types.js";

type ProviderModule = { createModelClient(config: ConversationConfig): ModelClient | Promise<ModelClient> };

export async function createModelClient(config: ConversationConfig): Promise<ModelClient> {
  if (config.modelProviderModule !== undefined) {
    const specifier = config.modelProviderModule.startsWith("file:")
      ? config.modelProviderModule
      : pathToFileURL(path.resolve(config.modelProviderModule)).href;
    const loaded = (await importModule(specifier)) as Partial<ProviderModule>;
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
  return lazyWireClient(provider);
}

/**
 * A Responses or Chat client whose module (HTTP, SSE decoding, response schemas) is loaded on the first request,
 * so that a conversation that only starts pays for none of it. Creating the real client reads nothing and
 * cannot fail, so nothing that used to fail at start fails later instead.
 */
function lazyWireClient(provider: ModelProviderInfo): ModelClient {
  let client: Promise<ModelClient> | undefined;
  const load = async (): Promise<ModelClient> =>
    provider.wireApi === "chat"
      ? (await import("./chat.js")).createChatClient(provider)
      : (await import("./responses.js")).createResponsesClient(provider);
  return {
    contextWindow: knownContextWindow,
    async *stream(request, signal) {
      yield* (await (client ??= load())).stream(request, signal);
    },
    // A failed load is reported by the first stream, which awaits the same promise.
    preload: () => (client ??= load()).then(
      () => undefined,
      () => undefined,
    ),
  };
}
