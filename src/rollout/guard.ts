// Rollout files are written only where they belong: never through a symbolic link, and never into a
// directory that, under a home's `sessions/`, resolves to somewhere outside it.
import { closeSync, constants, fstatSync, openSync, realpathSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { dirname, sep } from "node:path";
import { RolloutNotFoundError, RolloutUnsafePathError } from "../errors.js";
import { openRegularFile, readRegularFile as readRegularFileOf } from "../util/regular-file.js";
import { sessionsDirOf } from "./paths.js";

/** Opening a symbolic link with O_NOFOLLOW fails with ELOOP (EMLINK on FreeBSD). */
const SYMLINK_CODES = new Set(["ELOOP", "EMLINK"]);

/**
 * Opens a rollout file for appending (`create`: creating it if needed; else it must exist, and is readable
 * too) and returns its descriptor, refusing a symbolic link or anything but a regular file in its place.
 * ENOENT on resume becomes RolloutNotFoundError. Synchronous, as the recorder's file operations are (see
 * recorder.ts); O_NONBLOCK keeps a FIFO in the file's place from blocking the open.
 */
export function openRolloutFile(path: string, mode: "create" | "resume"): number {
  const { O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK, O_RDWR, O_WRONLY } = constants;
  const flags = (mode === "create" ? O_WRONLY | O_APPEND | O_CREAT : O_RDWR | O_APPEND) | O_NOFOLLOW | O_NONBLOCK;
  let fd: number;
  try {
    fd = openSync(path, flags, 0o666);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (mode === "resume" && code === "ENOENT") throw new RolloutNotFoundError(path, { cause: error });
    if (code !== undefined && SYMLINK_CODES.has(code)) {
      throw new RolloutUnsafePathError(path, `refusing rollout file ${path}: it is a symbolic link`, { cause: error });
    }
    if (code === "ENXIO") throw new RolloutUnsafePathError(path, `refusing rollout file ${path}: it is not a regular file`, { cause: error });
    throw error;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new RolloutUnsafePathError(path, `refusing rollout file ${path}: it is not a regular file`);
  }
  return fd;
}

/**
 * For a path under a `sessions` directory: refuses it when its directory (or, before it exists, its deepest
 * existing ancestor) resolves outside that `sessions` directory, as a symbolic link pointing away would.
 * Synchronous: a conversation's start runs it twice, and a few `realpath` calls cost less than trips through
 * the thread pool.
 */
export function assertInsideSessions(path: string): void {
  const root = sessionsDirOf(path);
  if (root === undefined) return;
  const realRoot = realpathIfExists(root);
  if (realRoot === undefined) return;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const real = realpathIfExists(dir);
    if (real !== undefined) {
      if (real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : `${realRoot}${sep}`)) return;
      throw new RolloutUnsafePathError(
        path,
        `refusing rollout file ${path}: ${dir} resolves to ${real}, outside the sessions directory ${root}`,
      );
    }
    if (dir === root) return;
  }
}

function realpathIfExists(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Opens a file of the sessions tree (a rollout, a lock) for reading: regular files only (util/regular-file.ts). */
export function openRegularFileForReading(path: string): Promise<FileHandle> {
  return openRegularFile(path, () => notRegular(path));
}

/** The whole of a file of the sessions tree (see openRegularFileForReading). */
export function readRegularFile(path: string): Promise<Buffer> {
  return readRegularFileOf(path, () => notRegular(path));
}

function notRegular(path: string): RolloutUnsafePathError {
  return new RolloutUnsafePathError(path, `refusing rollout file ${path}: it is not a regular file`);
}
