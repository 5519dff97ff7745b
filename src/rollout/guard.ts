// Rollout files are written only where they belong: never through a symbolic link, and never into a
// directory that, under a home's `sessions/`, resolves to somewhere outside it.
import { constants } from "node:fs";
import { open, realpath, type FileHandle } from "node:fs/promises";
import { dirname, sep } from "node:path";
import { RolloutNotFoundError, RolloutUnsafePathError } from "../errors.js";
import { sessionsDirOf } from "./paths.js";

/** Opening a symbolic link with O_NOFOLLOW fails with ELOOP (EMLINK on FreeBSD). */
const SYMLINK_CODES = new Set(["ELOOP", "EMLINK"]);

/**
 * Opens a rollout file for appending (`create`: creating it if needed; else it must exist, and is readable
 * too), refusing a symbolic link in its place. ENOENT on resume becomes RolloutNotFoundError.
 */
export async function openRolloutFile(path: string, mode: "create" | "resume"): Promise<FileHandle> {
  const { O_APPEND, O_CREAT, O_NOFOLLOW, O_RDWR, O_WRONLY } = constants;
  const flags = mode === "create" ? O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW : O_RDWR | O_APPEND | O_NOFOLLOW;
  try {
    return await open(path, flags, 0o666);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (mode === "resume" && code === "ENOENT") throw new RolloutNotFoundError(path, { cause: error });
    if (code !== undefined && SYMLINK_CODES.has(code)) {
      throw new RolloutUnsafePathError(path, `refusing rollout file ${path}: it is a symbolic link`, { cause: error });
    }
    throw error;
  }
}

/**
 * For a path under a `sessions` directory: refuses it when its directory (or, before it exists, its deepest
 * existing ancestor) resolves outside that `sessions` directory, as a symbolic link pointing away would.
 */
export async function assertInsideSessions(path: string): Promise<void> {
  const root = sessionsDirOf(path);
  if (root === undefined) return;
  const realRoot = await realpathIfExists(root);
  if (realRoot === undefined) return;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const real = await realpathIfExists(dir);
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

async function realpathIfExists(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
