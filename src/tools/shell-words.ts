// A deliberately small shell-word reader: it understands `bash -lc "<script>"` wrappers and scripts that are
// plain command chains (`&&`, `||`, `;`, `|`, quotes, escapes) and gives up on anything richer, so callers
// that need certainty (the safety check) can treat "gave up" as "unknown".

const SHELLS = new Set(["bash", "sh", "zsh"]);

/** The script of `bash -lc "<script>"` (or `-c`, `sh`, `zsh`, an absolute path to one), else undefined. */
export function shellScriptOf(command: readonly string[]): string | undefined {
  const [shell, flag, script, ...rest] = command;
  if (shell === undefined || script === undefined || rest.length > 0) return undefined;
  // Only a bare name or an absolute path: `./bash` could be anything the model just wrote.
  const name = shell.startsWith("/") ? shell.slice(shell.lastIndexOf("/") + 1) : shell;
  if (!SHELLS.has(name) || (shell !== name && !shell.startsWith("/"))) return undefined;
  return flag === "-lc" || flag === "-c" ? script : undefined;
}

type Token = { word: string } | { separator: "&&" | "||" | ";" | "|" };

/**
 * Splits a script made only of simple commands joined by `&&`, `||`, `;`, `|` or newlines into the argv of
 * each command. Returns undefined for redirections, subshells, groups, backgrounding, comments, command or
 * variable substitution, or anything it cannot read with certainty.
 */
export function splitPlainScript(script: string): string[][] | undefined {
  const tokens = tokenize(script);
  if (tokens === undefined) return undefined;
  const commands: string[][] = [];
  let current: string[] = [];
  for (const token of tokens) {
    if ("word" in token) {
      current.push(token.word);
      continue;
    }
    if (current.length > 0) commands.push(current);
    // `;` and newlines may leave empty commands (a trailing `;`); `&&`, `||` and `|` need one on each side.
    else if (token.separator !== ";") return undefined;
    current = [];
  }
  if (current.length > 0) commands.push(current);
  else if (tokens.length > 0 && !isSemicolon(tokens[tokens.length - 1])) return undefined;
  return commands.length > 0 ? commands : undefined;
}

function isSemicolon(token: Token | undefined): boolean {
  return token !== undefined && "separator" in token && token.separator === ";";
}

const UNSUPPORTED = new Set(["<", ">", "(", ")", "`", "$"]);

function tokenize(script: string): Token[] | undefined {
  const tokens: Token[] = [];
  let word = "";
  let inWord = false;
  let quoted = false;
  let groupWord = false;
  const endWord = () => {
    // An unquoted lone `{` or `}` opens or closes a command group.
    if (inWord && !quoted && (word === "{" || word === "}")) groupWord = true;
    if (inWord) tokens.push({ word });
    word = "";
    inWord = false;
    quoted = false;
  };
  for (let i = 0; i < script.length; i++) {
    const ch = script.charAt(i);
    if (ch === " " || ch === "\t") {
      endWord();
    } else if (ch === "\n" || ch === ";") {
      endWord();
      tokens.push({ separator: ";" });
    } else if (ch === "&" || ch === "|") {
      endWord();
      const doubled = script.charAt(i + 1) === ch;
      if (ch === "&" && !doubled) return undefined;
      if (script.charAt(i + 1 + (doubled ? 1 : 0)) === "&") return undefined;
      tokens.push({ separator: doubled ? (ch === "&" ? "&&" : "||") : "|" });
      if (doubled) i++;
    } else if (ch === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += script.slice(i + 1, end);
      inWord = quoted = true;
      i = end;
    } else if (ch === '"') {
      const read = readDoubleQuoted(script, i + 1);
      if (read === undefined) return undefined;
      word += read.text;
      inWord = quoted = true;
      i = read.end;
    } else if (ch === "\\") {
      const next = script.charAt(i + 1);
      if (next === "") return undefined;
      i++;
      if (next === "\n") continue;
      word += next;
      inWord = quoted = true;
    } else if (UNSUPPORTED.has(ch) || (!inWord && ch === "#")) {
      return undefined;
    } else {
      word += ch;
      inWord = true;
    }
  }
  endWord();
  return groupWord ? undefined : tokens;
}

/** Reads a double-quoted string starting after its opening quote; undefined if it expands anything. */
function readDoubleQuoted(script: string, start: number): { text: string; end: number } | undefined {
  let text = "";
  for (let i = start; i < script.length; i++) {
    const ch = script.charAt(i);
    if (ch === '"') return { text, end: i };
    if (ch === "$" || ch === "`") return undefined;
    if (ch === "\\") {
      const next = script.charAt(i + 1);
      if (next === "\n") {
        i++;
      } else if (next === '"' || next === "\\" || next === "$" || next === "`") {
        text += next;
        i++;
      } else {
        text += ch;
      }
      continue;
    }
    text += ch;
  }
  return undefined;
}

/** Joins argv into one shell string, quoting words only when they need it. */
export function shellJoin(words: readonly string[]): string {
  return words.map(quoteWord).join(" ");
}

function quoteWord(word: string): string {
  if (word === "") return "''";
  if (/^[A-Za-z0-9_\-./=:,+@%^]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'"'"'`)}'`;
}
