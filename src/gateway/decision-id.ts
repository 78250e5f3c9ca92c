// Decision ids: `dec_` + a ULID (48-bit millisecond time, 80 random bits, Crockford base 32). They sort
// by creation time as plain strings, which makes cursor pagination a simple `id < cursor`; within one
// millisecond the random part is incremented, so ids from one process are strictly increasing.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
export const DECISION_ID_PATTERN = /^dec_[0-9A-HJKMNP-TV-Z]{26}$/;

export interface DecisionIdOptions {
  /** Epoch milliseconds. */
  now?: () => number;
  random?: (bytes: number) => Uint8Array;
}

export function createDecisionIdGenerator(options: DecisionIdOptions = {}): () => string {
  const now = options.now ?? Date.now;
  const random = options.random ?? pooledRandomBytes();
  let lastTime = -1;
  let digits: number[] = [];

  return () => {
    const t = now();
    if (t > lastTime) {
      lastTime = t;
      digits = randomDigits(random(10));
    } else if (!increment(digits)) {
      // 2^80 ids in one millisecond cannot happen; moving to the next millisecond keeps the order anyway.
      lastTime += 1;
      digits = randomDigits(random(10));
    }
    return `dec_${encodeTime(lastTime)}${digits.map((d) => ALPHABET[d]).join('')}`;
  };
}

/** Random bytes drawn from the OS 4 KiB at a time: one system call per ~400 ids instead of one per id. */
function pooledRandomBytes(): (bytes: number) => Uint8Array {
  let pool = Buffer.alloc(0);
  let offset = 0;
  return (bytes) => {
    if (offset + bytes > pool.length) {
      pool = randomBytes(4096);
      offset = 0;
    }
    offset += bytes;
    return pool.subarray(offset - bytes, offset);
  };
}

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** 80 bits → 16 base-32 digits, most significant first. */
function randomDigits(bytes: Uint8Array): number[] {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  const out = new Array<number>(RANDOM_CHARS);
  for (let i = RANDOM_CHARS - 1; i >= 0; i--) {
    out[i] = Number(value & 31n);
    value >>= 5n;
  }
  return out;
}

/** Adds one in place; false on overflow. */
function increment(digits: number[]): boolean {
  for (let i = digits.length - 1; i >= 0; i--) {
    if (digits[i] < 31) {
      digits[i] += 1;
      return true;
    }
    digits[i] = 0;
  }
  return false;
}
