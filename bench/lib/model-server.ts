// The local mock model (src/mock-model) in its own process, so its CPU and memory never count against the
// system under test, behind a small front that both llmx and Codex talk to. The mock answers a RUNSHELL
// prompt with a call to llmx's `shell` tool ({"command": ["bash","-lc",cmd]}); current Codex offers no
// `shell` tool but `exec_command` ({"cmd": cmd}), so for requests that offer `exec_command` and not `shell`
// the front rewrites that call. Everything else passes through byte for byte.
import { spawn } from "node:child_process";
import { createServer, request, type IncomingMessage } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { nodeArgsFor } from "./launch.js";

const THIS_FILE = fileURLToPath(import.meta.url);

export type ModelServerProcess = { url: string; pid: number; close(): void };

export async function startModelServerProcess(): Promise<ModelServerProcess> {
  const child = spawn(process.execPath, nodeArgsFor(THIS_FILE, ["--serve"]), { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`model server exited with ${code}`)));
    createInterface({ input: child.stdout }).once("line", resolve);
  });
  return { url: line.trim(), pid: child.pid as number, close: () => child.kill() };
}

type Frame = { event?: string; data: Record<string, unknown> };

/** Rewrites llmx's `shell` call into Codex's `exec_command` call in a buffered SSE body. */
function rewriteForCodex(body: string): string {
  const frames: Frame[] = body
    .split("\n\n")
    .filter((chunk) => chunk.trim() !== "")
    .map((chunk) => {
      const event = /^event: (.*)$/m.exec(chunk)?.[1];
      const data = JSON.parse(/^data: (.*)$/m.exec(chunk)?.[1] ?? "{}") as Record<string, unknown>;
      return event === undefined ? { data } : { event, data };
    });
  const fix = (item: unknown): void => {
    const call = item as { type?: string; name?: string; arguments?: string } | undefined;
    if (call?.type !== "function_call" || call.name !== "shell") return;
    call.name = "exec_command";
    if (call.arguments) {
      const command = (JSON.parse(call.arguments) as { command: string[] }).command;
      call.arguments = JSON.stringify({ cmd: command.at(-1) });
    }
  };
  const kept = frames.filter((frame) => frame.data.type !== "response.function_call_arguments.delta");
  for (const frame of kept) {
    fix(frame.data.item);
    for (const item of ((frame.data.response as { output?: unknown[] } | undefined)?.output ?? [])) fix(item);
  }
  return kept.map((frame) => `${frame.event ? `event: ${frame.event}\n` : ""}data: ${JSON.stringify(frame.data)}\n\n`).join("");
}

const readAll = async (stream: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

async function serve(): Promise<void> {
  const { startMockModelServer } = await import("../../src/mock-model/index.js");
  const mock = await startMockModelServer();
  const upstream = new URL(mock.url);
  const front = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      const tools = (() => {
        try {
          return ((JSON.parse(body.toString("utf8")) as { tools?: { name?: string }[] }).tools ?? []).map((tool) => tool.name);
        } catch {
          return [];
        }
      })();
      const forCodex = tools.includes("exec_command") && !tools.includes("shell");
      const forward = request(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          if (!forCodex || answer.statusCode !== 200) {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
            return;
          }
          void readAll(answer).then((sse) => {
            const text = rewriteForCodex(sse.toString("utf8"));
            const { "content-length": _length, ...headers } = answer.headers;
            res.writeHead(200, headers);
            res.end(text);
          });
        },
      );
      forward.on("error", () => res.destroy());
      forward.end(body);
    })();
  });
  front.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
  const address = front.address() as { port: number };
  console.log(`http://127.0.0.1:${address.port}/v1`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === THIS_FILE && process.argv.includes("--serve")) {
  await serve();
}
