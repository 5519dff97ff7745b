// A deliberately small shell-word reader: it understands `bash -lc "<script>"` wrappers and scripts that are
// plain command chains (`&&`, `||`, `;`, `|`, quotes, escapes) and gives up on anything richer, so callers
// that need certainty (the safety check) can treat "gave up" as "unknown".
//
// "Plain" is an allow-list: outside quotes a word may only hold characters that no supported shell (bash, sh,
// zsh) expands, so the words read here are exactly the argv the shell will run. Everything else (braces, globs,
// `~` where it expands, `$`, backquotes, redirections, here-docs, subshells, groups, comments, backgrounding)
// makes the script unreadable.

export type ShellDialect = "bash" | "sh" | "zsh";

/** A `<shell> -c|-lc <script>` call. */
export type ShellInvocation = { dialect: ShellDialect; script: string };

// A shell is known by its path, never by its base name alone: `/proc/self/cwd/bash` or `./bash` could be a
// file the model just wrote. Bare names are looked up in the fixed PATH known-safe commands get (safety.ts).
const SHELL_PATHS: ReadonlyMap<string, ShellDialect> = new Map(
  (["bash", "sh", "zsh"] as const).flatMap((name) => [
    [name, name],
    [`/bin/${name}`, name],
    [`/usr/bin/${name}`, name],
  ]),
);

/** The shell and script of `bash -lc "<script>"` (or `-c`; `sh`, `zsh`; their paths in /bin, /usr/bin), else undefined. */
export function shellInvocation(command: readonly string[]): ShellInvocation | undefined {
  const [shell, flag, script, ...rest] = command;
  if (shell === undefined || script === undefined || rest.length > 0) return undefined;
  const dialect = SHELL_PATHS.get(shell);
  if (dialect === undefined || (flag !== "-lc" && flag !== "-c")) return undefined;
  return { dialect, script };
}

/** The script of `bash -lc "<script>"` (see `shellInvocation`), else undefined. */
export function shellScriptOf(command: readonly string[]): string | undefined {
  return shellInvocation(command)?.script;
}

type Token = { word: string } | { separator: "&&" | "||" | ";" | "|" };

/**
 * Splits a script made only of simple commands joined by `&&`, `||`, `;`, `|` or newlines into the argv of
 * each command. Returns undefined for anything the shell would expand or redirect, or that it cannot read
 * with certainty; see `tokenize` for what a word may hold.
 */
export function splitPlainScript(script: string, dialect: ShellDialect = "bash"): string[][] | undefined {
  const tokens = tokenize(script, dialect);
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

// Characters that mean themselves outside quotes in every dialect, wherever they are in a word.
const LITERAL = /^[A-Za-z0-9_\-./,+@%:]$/;

/**
 * Whether an unquoted `ch` is literal. `=` opens zsh's `=cmd` expansion at the start of a word; `~` expands
 * at the start of a word and after `=` or `:` (bash does so even in arguments: `echo a=~`), and is a glob
 * operator in zsh, as is `^`. Non-ASCII characters are never special.
 */
function isLiteral(ch: string, previous: string | undefined, dialect: ShellDialect): boolean {
  if (LITERAL.test(ch) || ch.charCodeAt(0) > 0x7f) return true;
  switch (ch) {
    case "=":
      return dialect !== "zsh" || previous !== undefined;
    case "^":
      return dialect !== "zsh";
    case "~":
      return dialect !== "zsh" && previous !== undefined && previous !== "=" && previous !== ":";
    default:
      return false;
  }
}

/**
 * Reads words and separators. A word is made of literal characters (`isLiteral`), single-quoted text,
 * double-quoted text that expands nothing, and backslash escapes; anything else (`$`, backquotes, `*?[]{}`,
 * `<>()`, `#`, `!`, a lone `&`, control characters) gives up.
 */
function tokenize(script: string, dialect: ShellDialect): Token[] | undefined {
  const tokens: Token[] = [];
  let word = "";
  let inWord = false;
  // The last character of the current word as written (quotes count as a character, `"`), for `=` and `~`.
  let previous: string | undefined;
  const endWord = () => {
    if (inWord) tokens.push({ word });
    word = "";
    inWord = false;
    previous = undefined;
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
      // `&&&`, `|||`, `|&`: none of them a plain chain.
      const after = script.charAt(i + 1 + (doubled ? 1 : 0));
      if (after === "&" || after === "|") return undefined;
      tokens.push({ separator: doubled ? (ch === "&" ? "&&" : "||") : "|" });
      if (doubled) i++;
    } else if (ch === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) return undefined;
      // zsh with RC_QUOTES (a user may set it) reads `'a''b'` as `a'b`: do not guess.
      if (dialect === "zsh" && script.charAt(end + 1) === "'") return undefined;
      word += script.slice(i + 1, end);
      inWord = true;
      previous = "'";
      i = end;
    } else if (ch === '"') {
      const read = readDoubleQuoted(script, i + 1);
      if (read === undefined) return undefined;
      word += read.text;
      inWord = true;
      previous = '"';
      i = read.end;
    } else if (ch === "\\") {
      const next = script.charAt(i + 1);
      if (next === "") return undefined;
      i++;
      if (next === "\n") continue;
      word += next;
      inWord = true;
      previous = "\\";
    } else if (isLiteral(ch, previous, dialect)) {
      word += ch;
      inWord = true;
      previous = ch;
    } else {
      return undefined;
    }
  }
  endWord();
  return tokens;
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
      } else if (next === '"' || next === "\\") {
        text += next;
        i++;
      } else if (next === "$" || next === "`") {
        // Escaped, these are literal; not worth reading.
        return undefined;
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
