// Turns llmx protocol events into the JSON lines `codex exec --json` prints (thread.started, turn.started,
// item.*, turn.completed / turn.failed, error): the stream @openai/codex-sdk parses.
import type { Event, TokenUsage } from "../index.js";

type Usage = {
  input_tokens: number;
  cached_input_tokens: number;
  cache_write_input_tokens: number;
  output_tokens: number;
  reasoning_output_tokens: number;
};

export type ThreadItem =
  | { id: string; type: "agent_message"; text: string }
  | { id: string; type: "reasoning"; text: string }
  | { id: string; type: "command_execution"; command: string; aggregated_output: string; exit_code?: number; status: "in_progress" | "completed" | "failed" }
  | { id: string; type: "todo_list"; items: { text: string; completed: boolean }[] }
  | { id: string; type: "error"; message: string };

export type ThreadEvent =
  | { type: "thread.started"; thread_id: string }
  | { type: "turn.started" }
  | { type: "turn.completed"; usage: Usage }
  | { type: "turn.failed"; error: { message: string } }
  | { type: "item.started" | "item.updated" | "item.completed"; item: ThreadItem }
  | { type: "error"; message: string };

export function createExecJsonTranslator(): (event: Event) => ThreadEvent[] {
  let nextItem = 0;
  const newId = (): string => `item_${nextItem++}`;
  const commands = new Map<string, { id: string; command: string }>();
  let todo: { id: string; items: { text: string; completed: boolean }[] } | undefined;
  let usage = emptyUsage();
  let failure: string | undefined;

  return (event) => {
    const msg = event.msg;
    switch (msg.type) {
      case "session_configured":
        return [{ type: "thread.started", thread_id: msg.session_id }];
      case "task_started":
        usage = emptyUsage();
        failure = undefined;
        todo = undefined;
        return [{ type: "turn.started" }];
      case "agent_message":
        return [{ type: "item.completed", item: { id: newId(), type: "agent_message", text: msg.message } }];
      case "agent_reasoning":
        return [{ type: "item.completed", item: { id: newId(), type: "reasoning", text: msg.text } }];
      case "exec_command_begin": {
        const entry = { id: newId(), command: shellJoin(msg.command) };
        commands.set(commandKey(msg), entry);
        return [{ type: "item.started", item: { ...entry, type: "command_execution", aggregated_output: "", status: "in_progress" } }];
      }
      case "exec_command_end": {
        const entry = commands.get(commandKey(msg)) ?? { id: newId(), command: "" };
        commands.delete(commandKey(msg));
        const item: ThreadItem = {
          ...entry,
          type: "command_execution",
          aggregated_output: msg.aggregated_output ?? msg.stdout,
          exit_code: msg.exit_code,
          status: msg.exit_code === 0 ? "completed" : "failed",
        };
        return [{ type: "item.completed", item }];
      }
      case "plan_update": {
        const items = msg.plan.map((step) => ({ text: step.step, completed: step.status === "completed" }));
        if (todo === undefined) {
          todo = { id: newId(), items };
          return [{ type: "item.started", item: { ...todo, type: "todo_list" } }];
        }
        todo.items = items;
        return [{ type: "item.updated", item: { ...todo, type: "todo_list" } }];
      }
      case "token_count":
        if (msg.info) usage = addUsage(usage, msg.info.last_token_usage);
        return [];
      case "stream_error":
        return [{ type: "item.completed", item: { id: newId(), type: "error", message: msg.message } }];
      case "error":
        failure = msg.message;
        return [{ type: "error", message: msg.message }];
      case "task_complete":
      case "turn_aborted": {
        const out: ThreadEvent[] = [];
        if (todo) out.push({ type: "item.completed", item: { ...todo, type: "todo_list" } });
        todo = undefined;
        if (msg.type === "turn_aborted") failure ??= `turn aborted (${msg.reason})`;
        out.push(failure === undefined ? { type: "turn.completed", usage } : { type: "turn.failed", error: { message: failure } });
        return out;
      }
      default:
        return [];
    }
  };
}

function emptyUsage(): Usage {
  return { input_tokens: 0, cached_input_tokens: 0, cache_write_input_tokens: 0, output_tokens: 0, reasoning_output_tokens: 0 };
}

function addUsage(total: Usage, last: TokenUsage): Usage {
  return {
    input_tokens: total.input_tokens + last.input_tokens,
    cached_input_tokens: total.cached_input_tokens + last.cached_input_tokens,
    cache_write_input_tokens: total.cache_write_input_tokens,
    output_tokens: total.output_tokens + last.output_tokens,
    reasoning_output_tokens: total.reasoning_output_tokens + last.reasoning_output_tokens,
  };
}

/** The command as one shell line, quoting words the way Codex prints them (`/bin/bash -lc 'echo hi'`). */
export function shellJoin(argv: readonly string[]): string {
  return argv.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`)).join(" ");
}

/** Sub-agents number their calls on their own: a command is known by who ran it and its call id. */
function commandKey(msg: { call_id: string; conversation_path?: string[] | undefined }): string {
  return `${(msg.conversation_path ?? []).join("/")}:${msg.call_id}`;
}
