// A Connection over a byte stream carrying one JSON message per line (the stdio and unix-socket framing): partial
// lines wait for their end, a line longer than the limit closes the connection, and messages queue for the peer
// only up to OUTGOING_QUEUE_CAPACITY (or the byte limit) before `send` says the peer is not reading.
import type { Readable, Writable } from "node:stream";
import { OUTGOING_QUEUE_CAPACITY, type Connection } from "./connection.js";
import { OutgoingBacklog } from "./outgoing-backlog.js";

/** The longest line accepted from a peer (a turn's input with inline images can be large). */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Bytes queued for a peer before it counts as not reading, however few messages they are. */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** How long `close()` waits for the peer to take what is queued before it cuts the stream. */
const CLOSE_GRACE_MS = 5_000;

export type LineConnectionOptions = {
  /** Messages queued and not yet taken by the stream before `send` refuses (default OUTGOING_QUEUE_CAPACITY). */
  capacity?: number;
  /**
   * Whether closing the connection ends (and a broken one destroys) the output stream. False for the process's
   * own stdout, which other writers may still use and which the process ends when it exits.
   */
  endOutputOnClose?: boolean;
  maxLineBytes?: number;
  maxBufferedBytes?: number;
  /** Called when the connection is closed because the peer broke the framing (a line over the limit). */
  onProtocolError?: (reason: string) => void;
};

const NEWLINE = 0x0a;

export function lineConnection(
  readable: Readable,
  writable: Writable,
  label: string,
  options: LineConnectionOptions = {},
): Connection {
  const maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  const backlog = new OutgoingBacklog(options.capacity ?? OUTGOING_QUEUE_CAPACITY, options.maxBufferedBytes ?? MAX_BUFFERED_BYTES);
  const endOutput = options.endOutputOnClose !== false;
  let messageHandler: ((text: string) => void) | undefined;
  const early: string[] = [];
  const closeHandlers: Array<() => void> = [];
  let closed = false;
  let closing = false;
  let partial: Buffer[] = [];
  let partialBytes = 0;
  /** One duplex stream (a socket) rather than a pair (stdin, stdout). */
  const duplex = (readable as unknown) === (writable as unknown);

  const deliver = (line: Buffer): void => {
    const text = line.toString("utf8").replace(/\r$/, "");
    if (text.trim() === "") return;
    if (messageHandler) messageHandler(text);
    else early.push(text);
  };

  const finish = (): void => {
    if (closed) return;
    closed = true;
    readable.off("data", onData);
    for (const handler of closeHandlers.splice(0)) handler();
  };

  const cut = (): void => {
    if (!readable.destroyed) readable.destroy();
    if (endOutput && !writable.destroyed) writable.destroy();
    finish();
  };

  const refuse = (reason: string): void => {
    partial = [];
    partialBytes = 0;
    options.onProtocolError?.(reason);
    cut();
  };

  function onData(chunk: Buffer | string): void {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    let start = 0;
    while (!closed) {
      const end = buffer.indexOf(NEWLINE, start);
      if (end === -1) break;
      const piece = buffer.subarray(start, end);
      if (partialBytes + piece.length > maxLineBytes) return refuse(`a line longer than ${maxLineBytes} bytes`);
      const line = partialBytes === 0 ? piece : Buffer.concat([...partial, piece]);
      partial = [];
      partialBytes = 0;
      start = end + 1;
      deliver(line);
    }
    if (closed) return;
    const rest = buffer.subarray(start);
    if (rest.length === 0) return;
    if (partialBytes + rest.length > maxLineBytes) return refuse(`a line longer than ${maxLineBytes} bytes`);
    // Copy: the stream may reuse the chunk's memory once we return.
    partial.push(Buffer.from(rest));
    partialBytes += rest.length;
  }

  readable.on("data", onData);
  // The peer closed its side: a last line without its newline still counts, then the connection is over.
  readable.once("end", () => {
    if (partialBytes > 0) deliver(Buffer.concat(partial));
    partial = [];
    partialBytes = 0;
    if (duplex) writable.end();
    finish();
  });
  readable.once("close", finish);
  readable.on("error", cut);
  if (!duplex) {
    writable.once("close", finish);
    writable.on("error", cut);
  }

  return {
    label,
    send(text: string): boolean {
      if (closed || closing || writable.writableEnded || writable.destroyed) return false;
      if (!backlog.admits(writable.writableLength)) return false;
      // JSON has newlines only as whitespace between tokens; one inside a message would split it in two.
      const line = `${text.includes("\n") ? text.replace(/\r?\n/g, " ") : text}\n`;
      writable.write(line);
      backlog.record(Buffer.byteLength(line));
      return true;
    },
    onMessage(handler: (text: string) => void): void {
      messageHandler = handler;
      for (const text of early.splice(0)) {
        if (closed) break;
        handler(text);
      }
    },
    onClose(handler: () => void): void {
      if (closed) handler();
      else closeHandlers.push(handler);
    },
    close(): void {
      if (closed || closing) return;
      closing = true;
      readable.off("data", onData);
      const timer = setTimeout(cut, CLOSE_GRACE_MS);
      timer.unref();
      const flushed = (): void => {
        clearTimeout(timer);
        // What we queued is flushed; nothing more will be read (a socket's peer may not have closed yet).
        if (!readable.destroyed) readable.destroy();
        finish();
      };
      if (endOutput) writable.end(flushed);
      else if (writable.writableNeedDrain) writable.once("drain", flushed);
      else queueMicrotask(flushed);
    },
  };
}
