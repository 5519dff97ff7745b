// One turn in one call, on a conversation's public surface (`events()`, `submit`): subscribe, submit the input,
// read that turn's events (matched by its submission id) to its `task_complete` or `turn_aborted`. `run` collects
// them into a result; `runStreamed` hands them out as they come. An abort signal interrupts the turn; the
// conversation stays usable for the next one.
import { AbortError, InternalAgentDiedError, InvalidOpError, TurnFailedError } from "../errors.js";
import { Op, type Event, type TokenUsage, type UserInput } from "../protocol/index.js";

/** What a turn takes: a prompt, or user input items (`text`, `local_image` paths, `image` urls). */
export type TurnInput = string | readonly UserInput[];

export type TurnOptions = {
  /** Interrupts the turn: `run` rejects with `AbortError` (name "AbortError"), `runStreamed`'s events throw it. */
  signal?: AbortSignal;
  /** A JSON schema the final message must follow (sent as the `user_turn` op's `final_output_json_schema`). */
  outputSchema?: unknown;
};

export type TurnResult = {
  /** The turn's last agent message ("" when it gave none). */
  finalResponse: string;
  /** The turn's events, streaming deltas left out (messages, reasoning, commands, plans, ...). */
  items: Event[];
  /** Tokens the turn's model requests used, summed; null when the provider reported none. */
  usage: TokenUsage | null;
  submissionId: string;
};

export type StreamedTurn = {
  submissionId: string;
  /** The turn's events, ending after its `task_complete` or `turn_aborted`. */
  events: AsyncGenerator<Event, void, undefined>;
};

/** The turn settings a `user_turn` op needs besides its input (kept current by the conversation). */
export type TurnContext = Omit<Extract<Op, { type: "user_turn" }>, "type" | "items" | "final_output_json_schema">;

/** What a turn needs of a conversation handle. */
export interface TurnHost {
  readonly conversationId: string;
  events(): AsyncIterable<Event>;
  submit(op: Op): Promise<string>;
  turnContext(): TurnContext;
  /** Resolves when the conversation has ended for good, with why. */
  readonly ended: Promise<{ ok: true } | { ok: false; error: Error }>;
}

/** How long an aborted turn gets to report `turn_aborted` before the caller is released anyway. */
export const ABORT_DRAIN_MS = 10_000;

const isTurnEnd = (event: Event, id: string): boolean =>
  event.id === id && (event.msg.type === "task_complete" || event.msg.type === "turn_aborted");

function toItems(input: TurnInput): UserInput[] {
  return typeof input === "string" ? [{ type: "text", text: input }] : [...input];
}

/** The op for a turn, checked before anything subscribes or is sent (InvalidOpError for bad input). */
function turnOp(host: TurnHost, input: TurnInput, outputSchema: unknown): Op {
  if (typeof input !== "string" && !Array.isArray(input)) {
    throw new InvalidOpError("a turn's input is a string or a list of user input items");
  }
  const items = toItems(input);
  const op: Op =
    outputSchema === undefined
      ? { type: "user_input", items }
      : { type: "user_turn", items, ...host.turnContext(), final_output_json_schema: outputSchema };
  const parsed = Op.safeParse(op);
  if (!parsed.success) throw new InvalidOpError(parsed.error.issues.map((issue) => issue.message).join("; "));
  return parsed.data;
}

function abortError(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  const detail = reason instanceof Error && reason.name !== "AbortError" ? `: ${reason.message}` : "";
  return new AbortError(`the turn was aborted${detail}`, reason === undefined ? undefined : { cause: reason });
}

/** Submits the turn and streams its events. Subscribes before submitting, so no event of the turn is missed. */
export async function runStreamed(host: TurnHost, input: TurnInput, options: TurnOptions = {}): Promise<StreamedTurn> {
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal);
  const op = turnOp(host, input, options.outputSchema);
  const source = host.events()[Symbol.asyncIterator]();
  // The first read is taken now: with a single-consumer stream that is what subscribes.
  let pending: Promise<IteratorResult<Event>> | undefined = source.next();
  let submissionId: string;
  try {
    submissionId = await host.submit(op);
  } catch (error) {
    void pending.then(() => source.return?.()).catch(() => undefined);
    throw error;
  }
  const id = submissionId;

  async function* events(): AsyncGenerator<Event, void, undefined> {
    let aborted = false;
    let interruptSent = false;
    let wakeAbort: (() => void) | undefined;
    const abortFired = new Promise<"abort">((resolve) => (wakeAbort = () => resolve("abort")));
    const onAbort = (): void => wakeAbort?.();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    let drainTimer: ReturnType<typeof setTimeout> | undefined;
    let drained: Promise<"drained"> | undefined;
    try {
      for (;;) {
        const next: Promise<IteratorResult<Event>> = pending ?? source.next();
        pending = next;
        const raced = await Promise.race([next, aborted ? (drained as Promise<"drained">) : abortFired]);
        if (raced === "abort") {
          aborted = true;
          if (!interruptSent) {
            interruptSent = true;
            await host.submit({ type: "interrupt" }).catch(() => undefined);
          }
          drained = new Promise((resolve) => (drainTimer = setTimeout(() => resolve("drained"), ABORT_DRAIN_MS).unref()));
          continue;
        }
        if (raced === "drained") break;
        pending = undefined;
        if (raced.done) {
          if (aborted && signal) throw abortError(signal);
          const end = await host.ended;
          throw end.ok ? new InternalAgentDiedError(`conversation ${host.conversationId} ended before its turn did`) : end.error;
        }
        const event = raced.value;
        if (event.id !== id) continue;
        yield event;
        if (isTurnEnd(event, id)) break;
      }
      if (aborted && signal) throw abortError(signal);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (drainTimer !== undefined) clearTimeout(drainTimer);
      // A read still in flight (a drain that timed out) is left to settle; the stream is released after it.
      const inFlight = pending;
      if (inFlight) void inFlight.then(() => source.return?.()).catch(() => undefined);
      else await source.return?.();
    }
  }

  return { submissionId: id, events: events() };
}

/** Runs one turn to its end. Rejects with AbortError when aborted, TurnFailedError when the turn reported an error. */
export async function run(host: TurnHost, input: TurnInput, options: TurnOptions = {}): Promise<TurnResult> {
  const turn = await runStreamed(host, input, options);
  const items: Event[] = [];
  let usage: TokenUsage | null = null;
  let lastMessage: string | undefined;
  let failure: Extract<Event["msg"], { type: "error" }> | undefined;
  let end: Event["msg"] | undefined;
  for await (const event of turn.events) {
    const msg = event.msg;
    if (isTurnEnd(event, turn.submissionId)) end = msg;
    if (msg.type.endsWith("_delta")) continue;
    items.push(event);
    if (msg.type === "agent_message") lastMessage = msg.message;
    if (msg.type === "error") failure ??= msg;
    if (msg.type === "token_count" && msg.info) usage = addUsage(usage, msg.info.last_token_usage);
  }
  if (failure) throw new TurnFailedError(failure.message, failure.code ?? "error", turn.submissionId);
  if (end?.type === "turn_aborted") throw new AbortError(`the turn was aborted (${end.reason})`);
  const finalResponse = (end?.type === "task_complete" ? end.last_agent_message : null) ?? lastMessage ?? "";
  return { finalResponse, items, usage, submissionId: turn.submissionId };
}

function addUsage(total: TokenUsage | null, add: TokenUsage): TokenUsage {
  if (total === null) return { ...add };
  return {
    input_tokens: total.input_tokens + add.input_tokens,
    cached_input_tokens: total.cached_input_tokens + add.cached_input_tokens,
    output_tokens: total.output_tokens + add.output_tokens,
    reasoning_output_tokens: total.reasoning_output_tokens + add.reasoning_output_tokens,
    total_tokens: total.total_tokens + add.total_tokens,
  };
}
