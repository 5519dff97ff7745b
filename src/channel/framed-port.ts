// Framing over a MessagePort: every message sent in one event-loop turn travels as one msgpackr frame.
// One postMessage per message tops out far below what a busy conversation emits; batching per turn does not
// (see DESIGN.md decision 4). The channel knows framing, not meaning: callers validate what they receive.
import { receiveMessageOnPort, type MessagePort, type TransferListItem } from "node:worker_threads";
import { Packr } from "msgpackr";

export interface FramedPort<Out> {
  send(message: Out): void;
  /**
   * Sends a message that carries transferables (a MessagePort): it cannot travel inside a msgpack frame, so it
   * goes on its own, after everything queued before it.
   */
  sendTransfer(message: Out, transfer: readonly TransferListItem[]): void;
  /** Sends what is queued now instead of at the end of this event-loop turn. */
  flush(): void;
  /**
   * Takes in, now and in order, every message that has already arrived, instead of when this thread's loop
   * gets to them (for a verdict that must not blame the other side for this side's own delay).
   */
  drain(): void;
  close(): void;
}

export type FramedPortHandlers<In> = {
  /** One decoded message. `decode` already rejected anything that is not an `In`. */
  onMessage(message: In): void;
  /** A frame that does not decode, or a message `decode` rejected. The frame's other messages still arrive. */
  onBadMessage?(error: Error): void;
  /** The other side closed the port or its thread went away. */
  onClose?(): void;
};

export type FramedPortOptions<In> = {
  /** Validates one received message at the boundary; throws (or returns undefined) on anything else. */
  decode(value: unknown): In | undefined;
  /** Upper bound of messages per frame, so one huge burst does not become one huge allocation. */
  maxMessagesPerFrame?: number;
};

const DEFAULT_MAX_MESSAGES_PER_FRAME = 512;

export function createFramedPort<In, Out>(
  port: MessagePort,
  handlers: FramedPortHandlers<In>,
  options: FramedPortOptions<In>,
): FramedPort<Out> {
  // Records would share structure across frames, which only works if both ends keep identical state.
  const packr = new Packr({ useRecords: false });
  const maxPerFrame = options.maxMessagesPerFrame ?? DEFAULT_MAX_MESSAGES_PER_FRAME;
  let outbox: Out[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  let closed = false;

  const flush = (): void => {
    if (scheduled !== undefined) {
      clearImmediate(scheduled);
      scheduled = undefined;
    }
    if (closed || outbox.length === 0) return;
    const pending = outbox;
    outbox = [];
    for (let start = 0; start < pending.length; start += maxPerFrame) {
      const chunk = start === 0 && pending.length <= maxPerFrame ? pending : pending.slice(start, start + maxPerFrame);
      // pack() returns a view into a buffer it reuses: copy before transferring.
      const frame = Uint8Array.prototype.slice.call(packr.pack(chunk));
      port.postMessage(frame, [frame.buffer]);
    }
  };

  const receive = (data: unknown): void => {
    let messages: unknown[];
    try {
      if (isTransferEnvelope(data)) {
        messages = [data[TRANSFER_KEY]];
      } else {
        if (!(data instanceof Uint8Array)) throw new TypeError("frame is not a byte array");
        const unpacked: unknown = packr.unpack(data);
        if (!Array.isArray(unpacked)) throw new TypeError("frame does not hold a list of messages");
        messages = unpacked;
      }
    } catch (error) {
      handlers.onBadMessage?.(asError(error));
      return;
    }
    for (const value of messages) {
      let message: In | undefined;
      try {
        message = options.decode(value);
        if (message === undefined) throw new TypeError("message rejected by decoder");
      } catch (error) {
        handlers.onBadMessage?.(asError(error));
        continue;
      }
      handlers.onMessage(message);
    }
  };

  port.on("message", receive);
  port.on("close", () => {
    closed = true;
    handlers.onClose?.();
  });

  return {
    send(message) {
      if (closed) return;
      outbox.push(message);
      scheduled ??= setImmediate(flush);
    },
    sendTransfer(message, transfer) {
      if (closed) return;
      flush();
      port.postMessage({ [TRANSFER_KEY]: message }, [...transfer]);
    },
    flush,
    drain() {
      if (closed) return;
      for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) receive(next.message);
    },
    close() {
      flush();
      closed = true;
      port.close();
    },
  };
}

const TRANSFER_KEY = "llmx/transfer";

function isTransferEnvelope(data: unknown): data is { [TRANSFER_KEY]: unknown } {
  return typeof data === "object" && data !== null && !(data instanceof Uint8Array) && TRANSFER_KEY in data;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
