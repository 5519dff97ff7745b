// `llmx ps`: the conversations of every running app-server host under the llmx home, as a tree per host. It finds
// the hosts by their host files, asks each over its control socket (`initialize`, then
// `llmx/supervision/list`), and gives each host a deadline: one that does not answer is reported, not waited for.
import { connect } from "node:net";
import type { Writable } from "node:stream";
import { z } from "zod";
import { findHosts, forgetHost, type HostFile } from "../app-server/control-socket.js";
import { lineConnection } from "../app-server/line-connection.js";
import type { SupervisionNode } from "../app-server/supervision.js";

export type { SupervisionNode };
import { errorCode, HostNotAnsweringError, HostProtocolError } from "../errors.js";
import { CLI_VERSION } from "../version.js";

/** How long a host gets to answer, from connecting to the list, unless `--timeout` says otherwise. */
export const DEFAULT_PS_TIMEOUT_MS = 5_000;

const SupervisionNodeSchema: z.ZodType<SupervisionNode> = z.lazy(() =>
  z.object({
    threadId: z.string(),
    parentThreadId: z.string().nullable(),
    state: z.string(),
    restarts: z.number(),
    model: z.string(),
    cwd: z.string(),
    createdAt: z.number(),
    tokens: z.object({ input: z.number(), cachedInput: z.number(), output: z.number(), total: z.number() }).nullable(),
    pendingApprovals: z.number(),
    children: z.array(SupervisionNodeSchema),
  }),
);
const SupervisionListResultSchema = z.object({ data: z.array(SupervisionNodeSchema) });

/** A response to one of our requests; notifications and server requests (no `id` of ours) are skipped. */
const ResponseSchema = z.object({
  id: z.union([z.number(), z.string()]),
  result: z.unknown().optional(),
  error: z.object({ code: z.number(), message: z.string() }).optional(),
});

export type HostReport =
  | (HostFile & { conversations: SupervisionNode[] })
  | (HostFile & { error: { code: string; message: string } });

/** Asks one host for its supervision tree, within `timeoutMs` from connecting to the answer. */
export async function querySupervision(host: HostFile, timeoutMs: number): Promise<SupervisionNode[]> {
  const waiting = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  let failure: Error | undefined;
  const fail = (error: Error): void => {
    failure ??= error;
    for (const pending of waiting.values()) pending.reject(failure);
    waiting.clear();
  };
  const socket = connect(host.socket);
  // Before the connection's own listeners, so that the reason (ENOENT, ECONNREFUSED, ...) is what gets reported.
  socket.once("error", (error) =>
    fail(new HostNotAnsweringError(host.pid, `host ${host.pid} cannot be reached on ${host.socket}: ${error.message}`, { cause: error })),
  );
  const connection = lineConnection(socket, socket, `host ${host.pid}`);
  connection.onClose(() => fail(new HostNotAnsweringError(host.pid, `host ${host.pid} closed the connection without answering`)));
  connection.onMessage((text) => {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return fail(new HostProtocolError(host.pid, `host ${host.pid} sent a line that is not JSON`));
    }
    const response = ResponseSchema.safeParse(message);
    if (!response.success || typeof response.data.id !== "number") return;
    const pending = waiting.get(response.data.id);
    if (pending === undefined) return;
    waiting.delete(response.data.id);
    const { error, result } = response.data;
    if (error !== undefined) pending.reject(new HostProtocolError(host.pid, `host ${host.pid} answered with error ${error.code}: ${error.message}`));
    else pending.resolve(result);
  });

  let nextId = 1;
  const request = (method: string, params: unknown): Promise<unknown> => {
    if (failure !== undefined) return Promise.reject(failure);
    const id = nextId++;
    const answer = new Promise<unknown>((resolve, reject) => waiting.set(id, { resolve, reject }));
    if (!connection.send(JSON.stringify({ id, method, params }))) fail(new HostNotAnsweringError(host.pid, `host ${host.pid} is not reading`));
    return answer;
  };

  const timer = setTimeout(
    () => fail(new HostNotAnsweringError(host.pid, `host ${host.pid} did not answer within ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    await request("initialize", { clientInfo: { name: "llmx-ps", title: null, version: CLI_VERSION }, capabilities: null });
    connection.send(JSON.stringify({ method: "initialized" }));
    const result = SupervisionListResultSchema.safeParse(await request("llmx/supervision/list", {}));
    if (!result.success) {
      throw new HostProtocolError(host.pid, `host ${host.pid} answered llmx/supervision/list with an unexpected shape: ${result.error.message}`);
    }
    return result.data.data;
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

/** A socket nobody listens on, or that is gone: the host is not running (its pid was reused). */
function isDeadSocket(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } }).cause?.code;
  return error instanceof HostNotAnsweringError && (code === "ECONNREFUSED" || code === "ENOENT");
}

/** Every running host under `home` with its conversations, or what went wrong asking it. */
export async function collectReports(home: string, timeoutMs: number): Promise<HostReport[]> {
  const hosts = await findHosts(home);
  const reports = await Promise.all(
    hosts.map(async (host): Promise<HostReport | undefined> => {
      try {
        return { ...host, conversations: await querySupervision(host, timeoutMs) };
      } catch (error) {
        if (isDeadSocket(error)) {
          await forgetHost(host);
          return undefined;
        }
        return { ...host, error: { code: errorCode(error), message: error instanceof Error ? error.message : String(error) } };
      }
    }),
  );
  return reports.filter((report) => report !== undefined);
}

/** "42s", "3m", "5h", "2d". */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

const COLUMNS = ["ID", "STATE", "RESTARTS", "MODEL", "CWD", "AGE", "TOKENS", "APPROVALS"] as const;

function conversationRows(nodes: SupervisionNode[], nowSeconds: number, depth = 0): string[][] {
  return nodes.flatMap((node) => [
    [
      `${depth === 0 ? "" : `${"  ".repeat(depth - 1)}└ `}${node.threadId}`,
      node.state,
      String(node.restarts),
      node.model,
      node.cwd,
      formatAge(nowSeconds - node.createdAt),
      node.tokens === null ? "-" : String(node.tokens.total),
      String(node.pendingApprovals),
    ],
    ...conversationRows(node.children, nowSeconds, depth + 1),
  ]);
}

function alignedTable(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join("  "));
}

/** The human-readable report: per host, a line about the host, then its conversations as an aligned tree. */
export function formatReports(reports: HostReport[], nowSeconds: number): string {
  if (reports.length === 0) return "no llmx app-server is running\n";
  const blocks = reports.map((report) => {
    const head =
      `host ${report.pid}  llmx ${report.version}  up ${formatAge(nowSeconds - report.startedAt)}  ` +
      `clients ${report.listen ?? "stdio"}  socket ${report.socket}`;
    if ("error" in report) {
      const label = report.error.code === "host_not_answering" ? "not answering" : "error";
      return `${head}\n  ${label}: ${report.error.message}\n`;
    }
    if (report.conversations.length === 0) return `${head}\n  no conversations\n`;
    const table = alignedTable([[...COLUMNS], ...conversationRows(report.conversations, nowSeconds)]);
    return `${head}\n${table.map((line) => `  ${line}`).join("\n")}\n`;
  });
  return blocks.join("\n");
}

export type PsOptions = { home: string; json: boolean; timeoutMs: number };

/** Prints the report; the exit code is 1 when a host did not answer properly, else 0 (no host at all included). */
export async function runPs(options: PsOptions, stdout: Writable): Promise<number> {
  const reports = await collectReports(options.home, options.timeoutMs);
  stdout.write(options.json ? `${JSON.stringify(reports, null, 2)}\n` : formatReports(reports, Math.floor(Date.now() / 1000)));
  return reports.some((report) => "error" in report) ? 1 : 0;
}
