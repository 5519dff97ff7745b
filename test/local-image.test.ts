// A `local_image` input reaches the model as an input_image data URL (as Codex sends it), in a real worker over
// real HTTP; an image that cannot be read becomes a text part saying why, and the turn still runs.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidInputFileError, imageDataUrl } from "../src/index.js";
import { readTurn, useMockModel, useRuntime } from "./helpers.js";

const runtime = useRuntime();
const mock = useMockModel();
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

type Body = { input: { role?: string; content?: unknown[] }[] };

describe("local images", () => {
  it("are sent as data URLs; an unreadable one is named in a text part", async () => {
    const home = await runtime.home();
    const image = path.join(home, "shot.png");
    await writeFile(image, PNG);
    const { conversation } = await runtime.manager().newConversation(mock.config(home));
    const items = [
      { type: "local_image" as const, path: image },
      { type: "local_image" as const, path: path.join(home, "missing.png") },
      { type: "text" as const, text: "look" },
    ];
    const turnId = await conversation.submit({ type: "user_input", items });
    const events = await readTurn(conversation, turnId);
    expect(events.at(-1)?.msg.type).toBe("task_complete");
    const body = mock.server.requests.at(-1)?.body as Body;
    const content = body.input.findLast((item) => item.role === "user")?.content;
    expect(content).toEqual([
      { type: "input_image", image_url: `data:image/png;base64,${PNG.toString("base64")}` },
      { type: "input_text", text: expect.stringMatching(/^\[image .*missing\.png could not be attached: .*does not exist\]$/) as unknown },
      { type: "input_text", text: "look" },
    ]);
  });

  it("imageDataUrl refuses files over the cap with a typed error", async () => {
    const home = await runtime.home();
    const image = path.join(home, "shot.png");
    await writeFile(image, PNG);
    await expect(imageDataUrl(image, 10)).rejects.toBeInstanceOf(InvalidInputFileError);
    await expect(imageDataUrl(image)).resolves.toMatch(/^data:image\/png;base64,/);
  });
});
