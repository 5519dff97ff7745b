// Reading files that must be regular files: a FIFO in their place would block the read forever, and a device
// such as /dev/zero would never end. O_NONBLOCK keeps the open itself from waiting on a FIFO.
import type * as FsPromises from "node:fs/promises";
import { constants } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { requireBuiltin } from "./builtin.js";

/** Opens `path` for reading; anything but a regular file is refused with `refuse()`'s error. */
export async function openRegularFile(path: string, refuse: () => Error = () => notRegular(path)): Promise<FileHandle> {
  const { open } = requireBuiltin<typeof FsPromises>("node:fs/promises");
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) throw refuse();
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  return handle;
}

/** The whole of a regular file (see openRegularFile). */
export async function readRegularFile(path: string, refuse?: () => Error): Promise<Buffer> {
  const handle = await openRegularFile(path, refuse);
  try {
    return await handle.readFile();
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function notRegular(path: string): Error {
  return Object.assign(new Error(`${path} is not a regular file`), { code: "ENOTREGULAR" });
}
