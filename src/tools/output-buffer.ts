// Collects a command's output bytes up to a cap, so a chatty command cannot exhaust the worker's memory.

export class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): void {
    const room = this.maxBytes - this.kept;
    if (room > 0) {
      const slice = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(slice);
      this.kept += slice.length;
    }
    this.dropped += Math.max(0, chunk.length - Math.max(0, room));
  }

  /** The kept bytes as UTF-8, with a marker saying how much was dropped when the cap was hit. */
  text(): string {
    const text = Buffer.concat(this.chunks).toString("utf8");
    return this.dropped > 0 ? `${text}\n[... ${this.dropped} more bytes of output not kept ...]\n` : text;
  }
}
