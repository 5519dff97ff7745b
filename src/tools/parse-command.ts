// A best-effort summary of what a command does (`parsed_cmd` in exec events), for clients to render; never
// used for decisions.
import { shellJoin, shellScriptOf, splitPlainScript } from "./shell-words.js";

/** Codex's `ParsedCommand`, internally tagged by `type`. */
export type ParsedCommand =
  | { type: "read"; cmd: string; name: string; path: string }
  | { type: "list_files"; cmd: string; path: string | null }
  | { type: "search"; cmd: string; query: string | null; path: string | null }
  | { type: "unknown"; cmd: string };

/** One entry per command: `bash -lc "<script>"` with a plain command chain gives one per chained command. */
export function parsedCommand(command: readonly string[]): ParsedCommand[] {
  const script = shellScriptOf(command);
  if (script === undefined) return [summarize(command)];
  const commands = splitPlainScript(script);
  return commands === undefined ? [{ type: "unknown", cmd: script }] : commands.map(summarize);
}

function summarize(argv: readonly string[]): ParsedCommand {
  const cmd = shellJoin(argv);
  const [program, ...args] = argv;
  switch (program) {
    case "cat":
    case "head":
    case "tail": {
      const operands = operandsOf(args, VALUE_FLAGS.headTail);
      const [path] = operands;
      return path !== undefined && operands.length === 1 ? { type: "read", cmd, name: baseName(path), path } : unknown(cmd);
    }
    case "ls": {
      const operands = operandsOf(args, VALUE_FLAGS.ls);
      return operands.length <= 1 ? { type: "list_files", cmd, path: operands[0] ?? null } : unknown(cmd);
    }
    case "rg":
    case "grep":
      return summarizeSearch(cmd, program, args);
    default:
      return unknown(cmd);
  }
}

function summarizeSearch(cmd: string, program: "rg" | "grep", args: readonly string[]): ParsedCommand {
  if (program === "rg" && args.includes("--files")) {
    const operands = operandsOf(args, VALUE_FLAGS.rg);
    return { type: "list_files", cmd, path: operands[0] ?? null };
  }
  const patternFlag = args.findIndex((arg) => arg === "-e" || arg === "--regexp");
  const explicitPattern = patternFlag >= 0 ? args[patternFlag + 1] : undefined;
  const operands = operandsOf(args, VALUE_FLAGS[program]);
  if (explicitPattern !== undefined) return { type: "search", cmd, query: explicitPattern, path: operands[0] ?? null };
  return { type: "search", cmd, query: operands[0] ?? null, path: operands[1] ?? null };
}

/** Flags whose value is the next argument, per program family, so it is not mistaken for an operand. */
const VALUE_FLAGS = {
  headTail: new Set(["-n", "-c"]),
  ls: new Set(["-I", "--ignore", "-w", "--width"]),
  rg: new Set(["-e", "--regexp", "-g", "--glob", "-t", "--type", "-T", "--type-not", "-A", "-B", "-C", "-m", "--max-count", "-f", "--file"]),
  grep: new Set(["-e", "--regexp", "-A", "-B", "-C", "-m", "--max-count", "-f", "--file"]),
};

function operandsOf(args: readonly string[], valueFlags: ReadonlySet<string>): string[] {
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (arg === "--") {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (valueFlags.has(arg)) i++;
    else if (!arg.startsWith("-") || arg === "-") operands.push(arg);
  }
  return operands;
}

function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1) || path;
}

function unknown(cmd: string): ParsedCommand {
  return { type: "unknown", cmd };
}
