// User instructions, as Codex gathers them: the configured instructions, then AGENTS.md files from the
// project root (the nearest ancestor holding .git) down to the working directory.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";

const PROJECT_DOC = "AGENTS.md";
const PROJECT_DOC_SEPARATOR = "\n\n--- project-doc ---\n\n";
/** Codex's default `project_doc_max_bytes`. */
export const PROJECT_DOC_MAX_BYTES = 32 * 1024;

export async function loadUserInstructions(cwd: string, configured: string | undefined): Promise<string | undefined> {
  const docs: string[] = [];
  let budget = PROJECT_DOC_MAX_BYTES;
  for (const dir of await projectDirs(cwd)) {
    if (budget <= 0) break;
    const text = await readIfFile(path.join(dir, PROJECT_DOC));
    if (text === undefined || text.trim() === "") continue;
    const bytes = Buffer.from(text, "utf8");
    docs.push(bytes.subarray(0, budget).toString("utf8"));
    budget -= bytes.length;
  }
  const parts = [configured?.trim(), docs.join("\n\n").trim()].filter((part): part is string => !!part);
  return parts.length === 0 ? undefined : parts.join(PROJECT_DOC_SEPARATOR);
}

/** Directories from the project root down to cwd; just cwd when no ancestor is a git repository. */
async function projectDirs(cwd: string): Promise<string[]> {
  const chain: string[] = [];
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    chain.unshift(dir);
    if (await exists(path.join(dir, ".git"))) return chain;
    if (path.dirname(dir) === dir) return [path.resolve(cwd)];
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function readIfFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return undefined;
  }
}
