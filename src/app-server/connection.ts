// src/app-server/connection.ts
// One client of the app-server, whatever carries it: stdio or a unix socket (one JSON message per line) or a
// WebSocket (one message per text frame).

/** One connected client. The server sends and receives JSON-RPC message texts (no trailing newline). */
export interface Connection {
  /** Who is on the other end, for logs ("stdio", "ws 127.0.0.1:51234", ...). */
  readonly label: string;
  /**
   * Queues one message for the client. Returns false when the connection's bounded outgoing queue is full
   * (the message is not queued); the server then treats the client as overloaded.
   */
  send(text: string): boolean;
  /** Registers the handler called with each complete incoming message text. */
  onMessage(handler: (text: string) => void): void;
  /** Registers the handler called once when the connection has closed, from either side. */
  onClose(handler: () => void): void;
  /** Closes the connection (flushing what is queued, best effort). */
  close(): void;
}

/** Messages queued for one client before it is considered not reading (Codex's bounded outgoing channel). */
export const OUTGOING_QUEUE_CAPACITY = 1_024;
