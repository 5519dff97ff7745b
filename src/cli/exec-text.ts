// What `llmx exec` prints without --json, after `codex exec`'s human output: a header, then the turn as it
// happens (the reply streamed, each command when it starts and when it ends, errors), and a `tokens used`
// footer, all on stderr. The final answer goes to stdout (runPrompt prints it), so `llmx exec … > out.txt`
// holds only the answer.
import { sandboxMode, type ConversationConfig, type Event } from "../index.js";
import { shellJoin } from "./exec-json.js";

/** Lines of a command's output shown when it ends (Codex shows 20 too). */
export const MAX_OUTPUT_LINES = 20;
/** Characters of a command's output line shown. */
const MAX_LINE_CHARS = 300;

export type ColorChoice = "always" | "never" | "auto";

/** Colour on `stream` for a `--color` choice: `auto` means a terminal and no NO_COLOR in the environment. */
export function useColor(choice: ColorChoice, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (choice === "always") return true;
  if (choice === "never") return false;
  return stream.isTTY === true && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb";
}

type Style = (text: string) => string;
type Styles = Record<"bold" | "dim" | "italic" | "red" | "green" | "yellow" | "magenta" | "cyan", Style>;

const SGR: Record<keyof Styles, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  italic: [3, 23],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  magenta: [35, 39],
  cyan: [36, 39],
};

function styles(color: boolean): Styles {
  const entries = Object.entries(SGR).map(([name, [on, off]]) => [
    name,
    color ? (text: string) => `\u001b[${on}m${text}\u001b[${off}m` : (text: string) => text,
  ]);
  return Object.fromEntries(entries) as Styles;
}

export type TextRenderer = {
  /** The run's settings, before the turn (Codex's header block), and the prompt. */
  header(config: ConversationConfig, sessionId: string, prompt: string): void;
  event(event: Event): void;
  /** The `tokens used` footer, once the turn has ended. */
  footer(): void;
};

export function createTextRenderer(stderr: NodeJS.WritableStream, color: boolean): TextRenderer {
  const s = styles(color);
  const write = (text: string): void => void stderr.write(text);
  /** The reply being streamed: its text so far (to end its line), or undefined when none is open. */
  let streaming: string | undefined;
  let totalTokens: number | undefined;
  const endStream = (): void => {
    if (streaming !== undefined && !streaming.endsWith("\n")) write("\n");
    streaming = undefined;
  };
  const who = (path: readonly string[] | undefined): string => (path !== undefined && path.length > 1 ? s.dim(" (sub-agent)") : "");

  return {
    header(config, sessionId, prompt) {
      const effort = config.reasoningEffort ?? "none";
      const rows: [string, string][] = [
        ["workdir", config.cwd],
        ["model", config.model],
        ["provider", config.modelProvider],
        ["approval", config.approvalPolicy],
        ["sandbox", sandboxMode(config.sandboxPolicy)],
        ["reasoning effort", effort],
        ["reasoning summaries", config.reasoningSummary],
        ["session id", sessionId === "" ? "(none)" : sessionId],
      ];
      write(`llmx (Codex-compatible exec)\n${s.dim("--------")}\n`);
      for (const [name, value] of rows) write(`${s.bold(`${name}:`)} ${value}\n`);
      write(`${s.dim("--------")}\n${s.cyan(s.bold("user"))}\n${prompt}\n\n`);
    },
    event(event) {
      const msg = event.msg;
      switch (msg.type) {
        case "agent_message_delta":
          if (streaming === undefined) {
            write(`${s.magenta(s.bold("codex"))}\n`);
            streaming = "";
          }
          streaming += msg.delta;
          write(msg.delta);
          break;
        case "agent_message":
          // Streamed already, unless the provider sent it whole.
          if (streaming === undefined) write(`${s.magenta(s.bold("codex"))}\n${msg.message}\n`);
          endStream();
          write("\n");
          break;
        case "agent_reasoning":
          endStream();
          write(`${s.magenta(s.italic("thinking"))}\n${s.italic(msg.text)}\n\n`);
          break;
        case "exec_command_begin":
          endStream();
          write(`${s.magenta(s.bold("exec"))}${who(msg.conversation_path)}\n${s.bold(shellJoin(msg.command))} in ${s.dim(msg.cwd)}\n`);
          break;
        case "exec_command_end": {
          endStream();
          const ms = Math.round(msg.duration.secs * 1000 + msg.duration.nanos / 1e6);
          const status = msg.exit_code === 0 ? s.green(` succeeded in ${ms}ms:`) : s.red(` exited ${msg.exit_code} in ${ms}ms:`);
          const head = outputHead(msg.aggregated_output ?? `${msg.stdout}${msg.stderr}`);
          write(`${status}\n${head === "" ? "" : `${s.dim(head)}\n`}\n`);
          break;
        }
        case "plan_update":
          endStream();
          write(`${s.magenta(s.bold("plan"))}\n`);
          for (const step of msg.plan) {
            const mark = step.status === "completed" ? "[x]" : step.status === "in_progress" ? "[>]" : "[ ]";
            write(`  ${mark} ${step.step}\n`);
          }
          write("\n");
          break;
        case "token_count":
          if (msg.info) totalTokens = msg.info.total_token_usage.total_tokens;
          break;
        case "stream_error":
          endStream();
          write(`${s.yellow(msg.message)}\n`);
          break;
        case "warning":
          endStream();
          write(`${s.yellow(`warning: ${msg.message}`)}\n`);
          break;
        case "error":
          endStream();
          write(`${s.red(s.bold("ERROR:"))} ${s.red(msg.message)}\n`);
          break;
        case "conversation_restarted":
          endStream();
          write(`${s.yellow(`the conversation's worker ${msg.reason}; restarted from its rollout (${msg.restarts})`)}\n`);
          break;
        case "turn_aborted":
          endStream();
          write(`${s.red(`turn aborted (${msg.reason})`)}\n`);
          break;
        default:
          if ((msg.type as string) === "patch_apply_end") {
            const success = (msg as { success?: boolean }).success === true;
            write(`${s.magenta(s.bold("apply_patch"))} ${success ? s.green("succeeded") : s.red("failed")}\n`);
          }
      }
    },
    footer() {
      endStream();
      if (totalTokens !== undefined) write(`${s.magenta(s.bold("tokens used"))}\n${totalTokens.toLocaleString("en-US")}\n`);
    },
  };
}

/** The first lines of a command's output, each cut to a bounded width, with a note of how much was left out. */
export function outputHead(output: string, maxLines = MAX_OUTPUT_LINES): string {
  const lines = output.replace(/\n$/, "").split("\n");
  if (output === "") return "";
  const shown = lines.slice(0, maxLines).map((line) => (line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line));
  if (lines.length > maxLines) shown.push(`… +${lines.length - maxLines} lines`);
  return shown.join("\n");
}
