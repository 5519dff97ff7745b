// Framing for the spawn service's socket: each message is a 4-byte big-endian length, then that many bytes of
// msgpack (so command output travels as binary, not text). The reader copes with frames split across reads and
// with many frames in one read, and refuses a frame longer than MAX_FRAME_BYTES rather than buffering it.
import { Packr, Unpackr } from "msgpackr";

/** Far above the largest frame either side sends (an output chunk is at most 64 KiB, a request a few KiB). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

export function encodeFrame(message: unknown): Buffer {
  const body = packr.pack(message);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/** A frame that cannot be read: too long, or not msgpack. The connection it came on is no longer usable. */
export class FrameError extends Error {}

/** Turns a byte stream back into messages (undecoded beyond msgpack: the receiver validates them). */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** The messages completed by `chunk`; throws FrameError on a frame that cannot be read. */
  push(chunk: Buffer): unknown[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const messages: unknown[] = [];
    let buffer = this.pending.length === 1 ? chunk : Buffer.concat(this.pending, this.pendingBytes);
    let offset = 0;
    while (buffer.length - offset >= 4) {
      const length = buffer.readUInt32BE(offset);
      if (length > MAX_FRAME_BYTES) throw new FrameError(`a frame of ${length} bytes is over the ${MAX_FRAME_BYTES} limit`);
      if (buffer.length - offset - 4 < length) break;
      const body = buffer.subarray(offset + 4, offset + 4 + length);
      try {
        messages.push(unpackr.unpack(body));
      } catch (error) {
        throw new FrameError(`a frame is not msgpack: ${(error as Error).message}`);
      }
      offset += 4 + length;
    }
    buffer = offset === 0 ? buffer : buffer.subarray(offset);
    this.pending = buffer.length === 0 ? [] : [buffer];
    this.pendingBytes = buffer.length;
    return messages;
  }
}
