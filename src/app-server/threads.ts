// Codex v2 `Thread` and `Turn` objects from what llmx knows about a conversation: its config and session start
// (live threads) or its rollout (stored ones), and llmx's policies spelled the v2 way.
import { basename } from "node:path";
import {
  isUserMessage,
  sandboxMode,
  type AskForApproval,
  type ConversationConfig,
  type RolloutItem,
  type SandboxPolicy,
  type SessionSource,
} from "../index.js";

export type ThreadStatus =
  | { type: "notLoaded" }
  | { type: "idle" }
  | { type: "systemError" }
  | { type: "active"; activeFlags: ("waitingOnApproval" | "waitingOnUserInput")[] };

/** What a Thread object is made from. Times are unix seconds. */
export type ThreadFacts = {
  id: string;
  path: string | null;
  cwd: string;
  model: string | null;
  modelProvider: string;
  preview: string;
  createdAt: number;
  updatedAt: number;
  source: SessionSource | undefined;
  cliVersion: string;
  originator: string | null;
  forkedFromId: string | null;
  parentThreadId: string | null;
  name: string | null;
};

export type V2Thread = Record<string, unknown> & { id: string; turns: V2Turn[] };
export type V2Turn = {
  id: string;
  rootTurnId: string;
  items: V2Item[];
  itemsView: "notLoaded" | "summary" | "full";
  status: "completed" | "interrupted" | "failed" | "inProgress";
  error: { message: string; codexErrorInfo: null; additionalDetails: null } | null;
  startedAt: number | null;
  completedAt: number | null;
  durationMs: number | null;
};
export type V2Item = Record<string, unknown> & { type: string; id: string };

export function threadObject(facts: ThreadFacts, status: ThreadStatus, turns: V2Turn[] = []): V2Thread {
  return {
    id: facts.id,
    environments: [{ environmentId: "local", cwd: facts.cwd, runtimeWorkspaceRoots: [facts.cwd] }],
    extra: null,
    sessionId: facts.id,
    forkedFromId: facts.forkedFromId,
    attachedToThreadId: null,
    parentThreadId: facts.parentThreadId,
    preview: facts.preview,
    ephemeral: false,
    section: null,
    sectionEnteredAt: null,
    projectId: null,
    historyMode: "paginated",
    modelProvider: facts.modelProvider,
    model: facts.model,
    reasoningEffort: null,
    createdAt: facts.createdAt,
    updatedAt: facts.updatedAt,
    recencyAt: facts.updatedAt,
    status,
    path: facts.path,
    cwd: facts.cwd,
    cliVersion: facts.cliVersion,
    originator: facts.originator,
    source: sourceV2(facts.source),
    canAcceptDirectInput: true,
    threadSource: null,
    agentNickname: null,
    agentRole: null,
    gitInfo: null,
    name: facts.name,
    daybreakEnabled: null,
    turns,
  };
}

/** llmx's session source in v2's spelling: `{subAgent: ...}` for sub-agents, "appServer" for MCP-era hosts. */
export function sourceV2(source: SessionSource | undefined): unknown {
  if (source === undefined) return "unknown";
  if (typeof source === "string") {
    if (source === "mcp") return "appServer";
    return ["cli", "vscode", "exec"].includes(source) ? source : "unknown";
  }
  const subagent = (source as { subagent?: unknown }).subagent;
  if (subagent === "review" || subagent === "compact") return { subAgent: subagent };
  const spawn = (subagent as { thread_spawn?: { parent_thread_id?: unknown; depth?: unknown } } | undefined)?.thread_spawn;
  if (spawn && typeof spawn.parent_thread_id === "string" && typeof spawn.depth === "number") {
    return { subAgent: { thread_spawn: { parent_thread_id: spawn.parent_thread_id, depth: spawn.depth } } };
  }
  return { subAgent: { other: JSON.stringify(subagent ?? source) } };
}

/** The parent a sub-agent's recorded source names, if it is a spawned sub-agent. */
export function parentFromSource(source: SessionSource | undefined): string | null {
  const spawn = (source as { subagent?: { thread_spawn?: { parent_thread_id?: unknown } } } | undefined)?.subagent?.thread_spawn;
  return typeof spawn?.parent_thread_id === "string" ? spawn.parent_thread_id : null;
}

/** v2's AskForApproval has no "on-failure": it is reported as the closest v2 value, "on-request". */
export function approvalPolicyV2(policy: AskForApproval): "untrusted" | "on-request" | "never" {
  return policy === "on-failure" ? "on-request" : policy;
}

export function sandboxPolicyV2(policy: SandboxPolicy): Record<string, unknown> {
  const mode = sandboxMode(policy);
  const fields = policy as { writable_roots?: string[]; network_access?: boolean; exclude_tmpdir_env_var?: boolean; exclude_slash_tmp?: boolean };
  switch (mode) {
    case "danger-full-access":
      return { type: "dangerFullAccess" };
    case "external-sandbox":
      return { type: "externalSandbox", networkAccess: "restricted" };
    case "workspace-write":
      return {
        type: "workspaceWrite",
        writableRoots: fields.writable_roots ?? [],
        networkAccess: fields.network_access ?? false,
        excludeTmpdirEnvVar: fields.exclude_tmpdir_env_var ?? false,
        excludeSlashTmp: fields.exclude_slash_tmp ?? false,
      };
    default:
      return { type: "readOnly", networkAccess: false };
  }
}

/** v2's sandbox policy as llmx's (tagged by `mode`, snake_case fields). */
export function sandboxPolicyFromV2(policy: { type: string; [key: string]: unknown }): SandboxPolicy {
  switch (policy.type) {
    case "dangerFullAccess":
      return { mode: "danger-full-access" };
    case "workspaceWrite":
      return {
        mode: "workspace-write",
        writable_roots: (policy.writableRoots as string[] | undefined) ?? [],
        network_access: policy.networkAccess === true,
        exclude_tmpdir_env_var: policy.excludeTmpdirEnvVar === true,
        exclude_slash_tmp: policy.excludeSlashTmp === true,
      };
    default:
      return { mode: "read-only" };
  }
}

/** The fields of a thread/start-style response besides `thread`. */
export function settingsResponse(config: ConversationConfig): Record<string, unknown> {
  return {
    model: config.model,
    modelProvider: config.modelProvider,
    serviceTier: null,
    disabledPluginIds: [],
    cwd: config.cwd,
    runtimeWorkspaceRoots: [config.cwd],
    instructionSources: [],
    approvalPolicy: approvalPolicyV2(config.approvalPolicy),
    approvalsReviewer: "user",
    sandbox: sandboxPolicyV2(config.sandboxPolicy),
    activePermissionProfile: null,
    reasoningEffort: config.reasoningEffort ?? null,
    multiAgentMode: "explicitRequestOnly",
  };
}

export const unixSeconds = (date: Date | number): number => Math.floor((typeof date === "number" ? date : date.getTime()) / 1000);

/** Seconds from an ISO timestamp, 0 when it does not parse (Codex's "unknown"). */
export function isoSeconds(iso: string | undefined): number {
  const ms = iso === undefined ? Number.NaN : Date.parse(iso);
  return Number.isNaN(ms) ? 0 : unixSeconds(ms);
}

/** The conversation id in a rollout file's name (`rollout-<time>-<uuid>.jsonl`). */
export const idFromRolloutName = (path: string): string | undefined => /-([0-9a-f-]{36})\.jsonl$/i.exec(basename(path))?.[1];

/**
 * The turns of a stored thread, rebuilt from its rollout: each real user message opens a turn holding that
 * message, the assistant's messages and the commands it ran (function call + output). Turn ids are positional
 * (`<threadId>:<n>`): rollouts of this format do not record one.
 */
export function turnsFromRollout(threadId: string, items: readonly RolloutItem[]): V2Turn[] {
  const turns: V2Turn[] = [];
  const calls = new Map<string, V2Item>();
  let current: V2Turn | undefined;
  let itemNumber = 0;
  for (const line of items) {
    if (line.type === "event_msg" && line.payload.type === "turn_aborted" && current) current.status = "interrupted";
    if (line.type !== "response_item") continue;
    const item = line.payload;
    if (item.type === "message" && item.role === "user" && isUserMessage(item)) {
      const id = `${threadId}:${turns.length}`;
      current = {
        id,
        rootTurnId: id,
        items: [],
        itemsView: "full",
        status: "completed",
        error: null,
        startedAt: null,
        completedAt: null,
        durationMs: null,
      };
      turns.push(current);
      const content = item.content.flatMap((part): Record<string, unknown>[] =>
        part.type === "input_text"
          ? [{ type: "text", text: part.text, text_elements: [] }]
          : part.type === "input_image"
            ? [{ type: "image", url: part.image_url }]
            : [],
      );
      current.items.push({ type: "userMessage", id: `item-${itemNumber++}`, clientId: null, content });
      continue;
    }
    if (!current) continue;
    if (item.type === "message" && item.role === "assistant") {
      const text = item.content.map((part) => (part.type === "output_text" ? part.text : "")).join("");
      current.items.push(agentMessageItem(`item-${itemNumber++}`, text));
    } else if (item.type === "function_call") {
      const command = commandFromArguments(item.arguments);
      if (command === undefined) continue;
      const entry = commandItem(item.call_id, command, "", "completed");
      calls.set(item.call_id, entry);
      current.items.push(entry);
    } else if (item.type === "function_call_output") {
      const entry = calls.get(item.call_id);
      if (entry) entry.aggregatedOutput = typeof item.output === "string" ? item.output : JSON.stringify(item.output);
    }
  }
  return turns;
}

function commandFromArguments(args: string): string | undefined {
  try {
    const parsed = JSON.parse(args) as { command?: unknown; cmd?: unknown };
    if (Array.isArray(parsed.command) && parsed.command.every((word) => typeof word === "string")) return shellJoin(parsed.command);
    if (typeof parsed.cmd === "string") return parsed.cmd;
  } catch {
    // Not a shell call.
  }
  return undefined;
}

export function agentMessageItem(id: string, text: string): V2Item {
  return { type: "agentMessage", moderation: null, id, text, phase: null, memoryCitation: null, delivery: null, questions: null };
}

export function commandItem(
  id: string,
  command: string,
  cwd: string,
  status: "inProgress" | "completed" | "failed" | "declined",
): V2Item {
  return {
    type: "commandExecution",
    id,
    pluginId: null,
    scriptPath: null,
    command,
    cwd,
    processId: null,
    source: "agent",
    status,
    commandActions: [{ type: "unknown", command }],
    aggregatedOutput: null,
    exitCode: null,
    durationMs: null,
  };
}

/** The command as one shell line, quoting words as Codex prints them (`/bin/bash -lc 'echo hi'`). */
export function shellJoin(argv: readonly string[]): string {
  return argv.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`)).join(" ");
}
