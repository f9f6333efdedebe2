/**
 * @module tar/byte-source
 * Pull-based reading of exact byte counts from an async byte stream, with the running position.
 * The tar reader needs "exactly 512 bytes", "up to N bytes, no copy" and "skip N" while knowing
 * the offset of every byte, which chunked streams do not give; this keeps a small queue of the
 * chunks received and never holds more than one incoming chunk beyond what was asked for.
 */

export class ByteSource {
  #it: AsyncIterator<Uint8Array>;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended = false;
  #position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  /** Bytes consumed so far: the offset of the next byte in the stream. */
  get position(): number {
    return this.#position;
  }

  /** Reads chunks until `n` bytes are buffered or the input ends. False when it ended short. */
  async #fill(n: number): Promise<boolean> {
    while (this.#buffered < n) {
      if (this.#ended) return false;
      const next = await this.#it.next();
      if (next.done === true) {
        this.#ended = true;
        return this.#buffered >= n;
      }
      const value = next.value;
      if (value.length === 0) continue;
      const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.length);
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    return true;
  }

  /** Removes and returns up to `n` buffered bytes from the first chunk only (no copy). */
  #takeFromFirst(n: number): Buffer {
    const first = this.#chunks[0];
    if (first === undefined) return Buffer.alloc(0);
    let out: Buffer;
    if (first.length <= n) {
      this.#chunks.shift();
      out = first;
    } else {
      out = first.subarray(0, n);
      this.#chunks[0] = first.subarray(n);
    }
    this.#buffered -= out.length;
    this.#position += out.length;
    return out;
  }

  /**
   * Exactly `n` bytes, or what was left when the input ended first (possibly empty): the caller
   * tells truncation from a clean end by the length.
   */
  async readExact(n: number): Promise<Buffer> {
    await this.#fill(n);
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return this.#takeFromFirst(n);
    const parts: Buffer[] = [];
    let want = Math.min(n, this.#buffered);
    while (want > 0) {
      const part = this.#takeFromFirst(want);
      parts.push(part);
      want -= part.length;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  /** Between 1 and `max` bytes without copying, or an empty buffer at the end of the input. */
  async readSome(max: number): Promise<Buffer> {
    if (max <= 0) return Buffer.alloc(0);
    await this.#fill(1);
    return this.#takeFromFirst(max);
  }

  /** Discards `n` bytes; returns how many were actually there. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const part = await this.readSome(left);
      if (part.length === 0) break;
      left -= part.length;
    }
    return n - left;
  }

  /** Reads and discards everything up to the end of the input; returns the byte count. */
  async drain(): Promise<number> {
    let count = 0;
    for (;;) {
      const part = await this.readSome(Number.MAX_SAFE_INTEGER);
      if (part.length === 0) return count;
      count += part.length;
    }
  }

  /** Stops reading early: lets the input release its resources (a Readable is destroyed). */
  async close(): Promise<void> {
    this.#chunks = [];
    this.#buffered = 0;
    if (!this.#ended) {
      this.#ended = true;
      await this.#it.return?.();
    }
  }
}
