// Local images as the model receives them: `data:<mime>;base64,…` URLs. Codex resizes large images first; llmx
// sends the file's bytes as they are and refuses files over a size cap instead.
import type * as FsPromises from "node:fs/promises";
import { InvalidInputFileError } from "../errors.js";
import type { UserInput } from "../protocol/index.js";
import { requireBuiltin } from "./builtin.js";

/** The largest image file sent (20 MiB, the per-image limit OpenAI documents for image input). */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/** The image formats the Responses and Chat APIs take, known by their first bytes. */
const SIGNATURES: { mime: string; matches(head: Buffer): boolean }[] = [
  { mime: "image/png", matches: (head) => head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { mime: "image/jpeg", matches: (head) => head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff },
  { mime: "image/gif", matches: (head) => head.subarray(0, 4).toString("latin1") === "GIF8" },
  {
    mime: "image/webp",
    matches: (head) => head.subarray(0, 4).toString("latin1") === "RIFF" && head.subarray(8, 12).toString("latin1") === "WEBP",
  },
];

/**
 * Reads an image file into a data URL. Throws InvalidInputFileError when the file is missing or unreadable,
 * larger than `maxBytes`, or not a PNG, JPEG, GIF or WebP image.
 */
export async function imageDataUrl(file: string, maxBytes = MAX_IMAGE_BYTES): Promise<string> {
  let handle;
  try {
    handle = await requireBuiltin<typeof FsPromises>("node:fs/promises").open(file, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? String(error)})`;
    throw new InvalidInputFileError(file, `image ${file} ${why}`, { cause: error });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new InvalidInputFileError(file, `image ${file} is not a regular file`);
    if (stat.size > maxBytes) {
      throw new InvalidInputFileError(file, `image ${file} is ${stat.size} bytes, over the ${maxBytes}-byte limit`);
    }
    const bytes = await handle.readFile();
    if (bytes.length > maxBytes) {
      throw new InvalidInputFileError(file, `image ${file} is ${bytes.length} bytes, over the ${maxBytes}-byte limit`);
    }
    const mime = SIGNATURES.find((signature) => signature.matches(bytes))?.mime;
    if (mime === undefined) throw new InvalidInputFileError(file, `${file} is not a PNG, JPEG, GIF or WebP image`);
    return `data:${mime};base64,${bytes.toString("base64")}`;
  } finally {
    await handle.close();
  }
}

/**
 * The input with every `local_image` turned into an `image` carrying its data URL; one that cannot be used
 * becomes a text part saying why, as Codex does, so the turn still runs.
 */
export async function resolveLocalImages(items: readonly UserInput[], maxBytes = MAX_IMAGE_BYTES): Promise<UserInput[]> {
  if (!items.some((item) => item.type === "local_image")) return [...items];
  return Promise.all(
    items.map(async (item): Promise<UserInput> => {
      if (item.type !== "local_image") return item;
      try {
        return { type: "image", image_url: await imageDataUrl(item.path, maxBytes) };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return { type: "text", text: `[image ${item.path} could not be attached: ${reason}]` };
      }
    }),
  );
}
