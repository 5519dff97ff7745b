// A Connection over a pair of byte streams carrying one JSON message per line (stdio, a unix socket). The
// outgoing side counts the lines the stream has not flushed yet: past OUTGOING_QUEUE_CAPACITY, `send` refuses.
import type { Readable, Writable } from "node:stream";
import { OUTGOING_QUEUE_CAPACITY, type Connection } from "./connection.js";

/** A line longer than this (16 MiB) is not a message anyone should send; the connection is closed. */
export const MAX_INCOMING_LINE_BYTES = 16 * 1024 * 1024;

export function lineConnection(
  input: Readable,
  output: Writable,
  label: string,
  options: { capacity?: number; endOutputOnClose?: boolean } = {},
): Connection {
  const capacity = options.capacity ?? OUTGOING_QUEUE_CAPACITY;
  let messageHandler: (text: string) => void = () => {};
  const closeHandlers: (() => void)[] = [];
  let unflushed = 0;
  let closed = false;
  let buffered = "";

  const finish = (): void => {
    if (closed) return;
    closed = true;
    input.off("data", onData);
    for (const handler of closeHandlers.splice(0)) handler();
  };
  const onData = (chunk: Buffer | string): void => {
    buffered += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let newline = buffered.indexOf("\n");
    while (newline >= 0 && !closed) {
      const line = buffered.slice(0, newline).replace(/\r$/, "");
      buffered = buffered.slice(newline + 1);
      if (line.trim() !== "") messageHandler(line);
      newline = buffered.indexOf("\n");
    }
    if (buffered.length > MAX_INCOMING_LINE_BYTES) connection.close();
  };
  input.on("data", onData);
  input.once("end", () => {
    // A last message without its newline still counts.
    if (buffered.trim() !== "" && !closed) messageHandler(buffered.replace(/\r$/, ""));
    buffered = "";
    finish();
  });
  input.once("close", finish);
  input.once("error", finish);
  output.once("error", finish);
  output.once("close", finish);

  const connection: Connection = {
    label,
    send(text) {
      if (closed) return false;
      if (unflushed >= capacity) return false;
      unflushed++;
      output.write(`${text}\n`, () => {
        unflushed--;
      });
      return true;
    },
    onMessage(handler) {
      messageHandler = handler;
    },
    onClose(handler) {
      if (closed) handler();
      else closeHandlers.push(handler);
    },
    close() {
      if (closed) return;
      if (options.endOutputOnClose !== false) output.end();
      input.pause();
      finish();
    },
  };
  return connection;
}
