// User instructions, as Codex gathers them: the configured instructions, then AGENTS.md files from the
// project root (the nearest ancestor holding .git) down to the working directory. Read synchronously: a
// conversation's start waits for these few small reads, and each costs less than a trip through the thread pool.
import { readFileSync, statSync } from "node:fs";
import path from "node:path";

const PROJECT_DOC = "AGENTS.md";
const PROJECT_DOC_SEPARATOR = "\n\n--- project-doc ---\n\n";
/** Codex's default `project_doc_max_bytes`. */
export const PROJECT_DOC_MAX_BYTES = 32 * 1024;

export function loadUserInstructions(cwd: string, configured: string | undefined): string | undefined {
  const docs: string[] = [];
  let budget = PROJECT_DOC_MAX_BYTES;
  for (const dir of projectDirs(cwd)) {
    if (budget <= 0) break;
    const text = readIfFile(path.join(dir, PROJECT_DOC));
    if (text === undefined || text.trim() === "") continue;
    const bytes = Buffer.from(text, "utf8");
    docs.push(bytes.subarray(0, budget).toString("utf8"));
    budget -= bytes.length;
  }
  const parts = [configured?.trim(), docs.join("\n\n").trim()].filter((part): part is string => !!part);
  return parts.length === 0 ? undefined : parts.join(PROJECT_DOC_SEPARATOR);
}

/** Directories from the project root down to cwd; just cwd when no ancestor is a git repository. */
function projectDirs(cwd: string): string[] {
  const chain: string[] = [];
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    chain.unshift(dir);
    if (exists(path.join(dir, ".git"))) return chain;
    if (path.dirname(dir) === dir) return [path.resolve(cwd)];
  }
}

function exists(file: string): boolean {
  return statSync(file, { throwIfNoEntry: false }) !== undefined;
}

/** A regular file's text; nothing for a missing file, a directory, or a FIFO (which would block the read). */
function readIfFile(file: string): string | undefined {
  try {
    if (statSync(file, { throwIfNoEntry: false })?.isFile() !== true) return undefined;
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}
