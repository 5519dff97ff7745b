// Counts the messages a connection has handed to its stream that the stream still holds in user space (not yet
// taken by the kernel). Node's writable streams and `ws` report what they still hold in bytes (`writableLength`,
// `bufferedAmount`), not in messages; bytes leave in the order they were queued, so the oldest messages whose
// bytes are all gone are the ones that left. A message counts until its last byte has left.

export class OutgoingBacklog {
  private readonly sizes: number[] = [];
  private head = 0;
  /** Sum of the sizes of the messages still counted. */
  private bytes = 0;

  /**
   * @param capacity messages the stream may hold before the client counts as not reading
   * @param maxBytes bytes the stream may hold before the client counts as not reading, whatever the count
   */
  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
  ) {}

  /** Whether one more message may be queued, given the bytes the stream still holds right now. */
  admits(buffered: number): boolean {
    this.settle(buffered);
    return this.size < this.capacity && buffered < this.maxBytes;
  }

  /** Counts a message of `bytes` bytes just handed to the stream. */
  record(bytes: number): void {
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Messages the stream still holds (as of the last `admits`). */
  get size(): number {
    return this.sizes.length - this.head;
  }

  private settle(buffered: number): void {
    while (this.head < this.sizes.length) {
      const oldest = this.sizes[this.head] ?? 0;
      // The bytes still held all belong to newer messages: the oldest one has left.
      if (this.bytes - oldest < buffered) break;
      this.bytes -= oldest;
      this.head += 1;
    }
    if (this.head > 1_024 && this.head * 2 > this.sizes.length) {
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
  }
}
