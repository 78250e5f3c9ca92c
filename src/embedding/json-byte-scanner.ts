// A byte-level reader for the default embedder's 300 MB vectors file: JSON.parse of the file peaks at
// ~1 GB of V8 heap, above the default heap limit on small machines; scanning the Buffer and
// materialising only the selected rows keeps the heap around 100 MB.
import { ConfigError } from '../errors';

const isWs = (b: number | undefined): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d, OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d;

export class ByteScanner {
  constructor(readonly buf: Buffer) {}

  skipWs(pos: number): number {
    while (isWs(this.buf[pos])) pos++;
    return pos;
  }

  expect(pos: number, byte: number): number {
    if (this.buf[pos] !== byte) throw this.error(pos, `expected '${String.fromCharCode(byte)}'`);
    return pos + 1;
  }

  error(pos: number, msg: string): ConfigError {
    return new ConfigError(`vectors file is not valid wink JSON at byte ${pos}: ${msg}`, 'embedder_source_invalid');
  }

  /** Index just past the string starting at pos. */
  stringEnd(pos: number): number {
    for (pos = this.expect(pos, QUOTE); this.buf[pos] !== QUOTE; pos += this.buf[pos] === BACKSLASH ? 2 : 1) {
      if (pos >= this.buf.length) throw this.error(pos, 'unterminated string');
    }
    return pos + 1;
  }

  /** Index just past the JSON value starting at pos. */
  valueEnd(pos: number): number {
    const b = this.buf[pos];
    if (b === QUOTE) return this.stringEnd(pos);
    if (b === OPEN_OBJECT) return this.forEachMember(pos, (_key, start) => this.valueEnd(start));
    if (b === OPEN_ARRAY) {
      // Fast path for flat arrays (every vector): native searches instead of a byte loop.
      const close = this.buf.indexOf(CLOSE_ARRAY, pos);
      const inner = this.buf.subarray(pos + 1, close);
      if (close > 0 && inner.indexOf(OPEN_ARRAY) < 0 && inner.indexOf(OPEN_OBJECT) < 0 && inner.indexOf(QUOTE) < 0) return close + 1;
      pos = this.skipWs(pos + 1);
      for (let first = true; this.buf[pos] !== CLOSE_ARRAY; first = false) {
        if (!first) pos = this.skipWs(this.expect(pos, COMMA));
        pos = this.skipWs(this.valueEnd(pos));
      }
      return pos + 1;
    }
    const start = pos;
    while (pos < this.buf.length && ![COMMA, CLOSE_ARRAY, CLOSE_OBJECT].includes(this.buf[pos]) && !isWs(this.buf[pos])) pos++;
    if (pos === start) throw this.error(pos, 'expected a value');
    return pos;
  }

  /** Calls visit(key, valueStart) for each member of the object at pos; visit returns the value's end. */
  forEachMember(pos: number, visit: (key: string, valueStart: number) => number): number {
    pos = this.skipWs(this.expect(this.skipWs(pos), OPEN_OBJECT));
    if (this.buf[pos] === CLOSE_OBJECT) return pos + 1;
    for (;;) {
      const keyEnd = this.stringEnd(pos);
      const raw = this.buf.toString('utf8', pos, keyEnd);
      const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      pos = this.skipWs(visit(key, this.skipWs(this.expect(this.skipWs(keyEnd), 0x3a))));
      if (this.buf[pos] === CLOSE_OBJECT) return pos + 1;
      pos = this.skipWs(this.expect(pos, COMMA));
    }
  }

  /** Copies the first `count` numbers of the array at pos into out[offset..]; returns the array's end. */
  readNumbers(pos: number, count: number, out: Float64Array, offset: number): number {
    const end = this.valueEnd(pos);
    const values: unknown = JSON.parse(this.buf.toString('utf8', pos, end));
    if (!Array.isArray(values) || values.length < count) throw this.error(pos, `expected an array of at least ${count} numbers`);
    for (let k = 0; k < count; k++) {
      const v: unknown = values[k];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw this.error(pos, 'vector value is not a finite number');
      out[offset + k] = v;
    }
    return end;
  }
}
