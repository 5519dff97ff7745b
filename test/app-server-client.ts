// A plain JSON-RPC client for `llmx app-server` over stdio, as a Codex client would drive it. Every message the
// server sends is checked against Codex 0.169's generated schema (and, for what that file does not define, the
// llmx supplement next to it); a message that does not validate is recorded in `invalid`.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Ajv, type ValidateFunction } from "ajv";
import { FIXTURES } from "./helpers.js";

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist/src/cli/main.js");

const SCHEMA_DIR = path.join(FIXTURES, "codex-app-server");
const codexSchema = JSON.parse(readFileSync(path.join(SCHEMA_DIR, "codex_app_server_protocol.v2.schemas.json"), "utf8")) as {
  definitions: Record<string, { oneOf?: { properties: { method: { enum: string[] }; params?: unknown } }[] }>;
};
const supplement = JSON.parse(readFileSync(path.join(SCHEMA_DIR, "llmx-supplement.schema.json"), "utf8")) as object;

const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true, logger: false });
ajv.addSchema(codexSchema, "codex");
ajv.addSchema(supplement, "llmx");

const validator = (ref: string): ValidateFunction => {
  const validate = ajv.getSchema(ref);
  if (validate === undefined) throw new Error(`no schema ${ref}`);
  return validate;
};

/** Each client method's response definition: `<X>Params` in ClientRequest answers with `<X>Response`. */
const RESPONSE_SCHEMAS = new Map<string, string>([
  ["initialize", "llmx#/definitions/InitializeResponse"],
  ["getAuthStatus", "llmx#/definitions/GetAuthStatusResponse"],
  ["llmx/supervision/list", "llmx#/definitions/SupervisionListResponse"],
]);
for (const variant of codexSchema.definitions.ClientRequest?.oneOf ?? []) {
  const method = variant.properties.method.enum[0] as string;
  const ref = /definitions\/(\w+)Params"/.exec(JSON.stringify(variant.properties.params ?? {}))?.[1];
  if (ref && codexSchema.definitions[`${ref}Response`] && !RESPONSE_SCHEMAS.has(method)) {
    RESPONSE_SCHEMAS.set(method, `codex#/definitions/${ref}Response`);
  }
}

export type Message = Record<string, unknown> & { id?: unknown; method?: string; params?: Record<string, unknown> };
export type Reply = { result?: unknown; error?: { code: number; message: string } };
export type Invalid = { message: unknown; errors: string };

const DEFAULT_TIMEOUT_MS = 30_000;

/** The client side of the protocol over any carrier: requests, waits, and the schema check of what arrives. */
export class JsonRpcPeer {
  readonly received: Message[] = [];
  readonly invalid: Invalid[] = [];
  stderr = "";
  private nextId = 1;
  private readonly methods = new Map<unknown, string>();
  private readonly waiters: { match: (message: Message) => boolean; resolve: (message: Message) => void }[] = [];

  constructor(private readonly write: (text: string) => void) {}

  sendRaw(text: string): void {
    this.write(text);
  }

  /** Codex's handshake: initialize, then the `initialized` notification. */
  async handshake(): Promise<void> {
    await this.call("initialize", { clientInfo: { name: "llmx-test", title: null, version: "0.0.1" }, capabilities: null });
    this.notify("initialized");
  }

  notify(method: string, params?: unknown): void {
    this.sendRaw(JSON.stringify(params === undefined ? { method } : { method, params }));
  }

  async request(method: string, params?: unknown, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Reply> {
    const id = this.nextId++;
    this.methods.set(id, method);
    const reply = this.waitFor((message) => message.id === id && message.method === undefined, timeoutMs);
    this.sendRaw(JSON.stringify(params === undefined ? { id, method } : { id, method, params }));
    return (await reply) as Reply;
  }

  /** A request that must succeed: its result. */
  async call<T = Record<string, unknown>>(method: string, params?: unknown): Promise<T> {
    const reply = await this.request(method, params);
    if (reply.error) throw new Error(`${method} failed: ${reply.error.code} ${reply.error.message}`);
    return reply.result as T;
  }

  /** Answers a server request. */
  respond(id: unknown, result: unknown): void {
    this.sendRaw(JSON.stringify({ id, result }));
  }

  /** The first message, already received or still to come, that matches. */
  async waitFor(match: (message: Message) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Message> {
    const seen = this.received.find(match);
    if (seen) return seen;
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`no matching message within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2_000)}`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (message: Message) => {
          clearTimeout(timer);
          resolve(message);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Waits for a notification by method (and, optionally, a condition on its params). */
  notification(method: string, where: (params: Record<string, unknown>) => boolean = () => true): Promise<Message> {
    return this.waitFor((message) => message.method === method && message.id === undefined && where(message.params ?? {}));
  }

  serverRequest(method: string, where: (params: Record<string, unknown>) => boolean = () => true): Promise<Message> {
    return this.waitFor((message) => message.method === method && message.id !== undefined && where(message.params ?? {}));
  }

  /** Methods of every notification received so far for `threadId`, in order. */
  methodsFor(threadId: string): string[] {
    return this.received
      .filter((message) => message.method !== undefined && message.params?.threadId === threadId)
      .map((message) => message.method as string);
  }

  /** Takes one message text from the server. */
  receive(line: string): void {
    let message: Message;
    try {
      message = JSON.parse(line) as Message;
    } catch {
      this.invalid.push({ message: line, errors: "not JSON" });
      return;
    }
    this.check(message);
    this.received.push(message);
    for (const waiter of [...this.waiters]) {
      if (!waiter.match(message)) continue;
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(message);
    }
  }

  private check(message: Message): void {
    const fail = (validate: ValidateFunction): void => {
      this.invalid.push({ message, errors: ajv.errorsText(validate.errors, { separator: "\n" }) });
    };
    const validate = (ref: string, value: unknown): void => {
      const fn = validator(ref);
      if (!fn(value)) fail(fn);
    };
    if (message.method !== undefined && message.id !== undefined) return validate("llmx#/definitions/ServerRequest", message);
    if (message.method !== undefined) {
      return validate(message.method.startsWith("llmx/") ? "llmx#/definitions/LlmxNotification" : "codex#/definitions/ServerNotification", message);
    }
    if ("error" in message) return validate("llmx#/definitions/JSONRPCError", message);
    validate("llmx#/definitions/JSONRPCResponse", message);
    const method = this.methods.get(message.id);
    const ref = method === undefined ? undefined : RESPONSE_SCHEMAS.get(method);
    if (ref === undefined) {
      this.invalid.push({ message, errors: `no response schema for ${String(method)}` });
      return;
    }
    validate(ref, message.result);
  }
}

/** `llmx app-server` in a child process, spoken to over its standard input and output. */
export class AppServerClient extends JsonRpcPeer {
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    super((text) => child.stdin.write(`${text}\n`));
    createInterface({ input: child.stdout }).on("line", (line) => this.receive(line));
    child.stderr.on("data", (chunk: Buffer) => (this.stderr += chunk.toString("utf8")));
    this.exited = once(child, "exit").then(([code]) => code as number | null);
  }

  static start(home: string, args: string[] = []): AppServerClient {
    const child = spawn(process.execPath, [CLI, "app-server", ...args], {
      cwd: home,
      env: { ...process.env, LLMX_HOME: home, HOME: home },
      stdio: "pipe",
    });
    return new AppServerClient(child);
  }

  /** Starts the server and completes Codex's handshake (initialize, then the `initialized` notification). */
  static async initialized(home: string): Promise<AppServerClient> {
    const client = AppServerClient.start(home);
    await client.handshake();
    return client;
  }

  /** Closes standard input (the server then shuts down and exits) and waits for the exit code. */
  async close(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<number | null> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
