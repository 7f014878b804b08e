// Job ids: 'j_' + 10 characters of millisecond time + 16 random characters (Crockford base32,
// lower case), so ids sort by creation time, are unguessable, and need no coordination.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export function newJobId(now: number = Date.now()): string {
  return `j_${encodeTime(now)}${encodeRandom(10)}`;
}

/** Task ids read as `<jobId>.<key>` (e.g. `j_01k….encode`, `j_01k….chunk-007`), so logs name both. */
export function taskId(jobId: string, key: string): string {
  return `${jobId}.${key}`;
}

function encodeTime(ms: number): string {
  let n = Math.max(0, Math.trunc(ms));
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[n % 32] + out;
    n = Math.floor(n / 32);
  }
  return out;
}

// Random bytes drawn 4 KiB at a time: one small randomBytes call costs more than the insert it names.
let pool = Buffer.alloc(0);
let poolAt = 0;

function take(n: number): Buffer {
  if (poolAt + n > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  poolAt += n;
  return pool.subarray(poolAt - n, poolAt);
}

function encodeRandom(nBytes: number): string {
  // 5 bits per character: 10 bytes = 80 bits = 16 characters.
  const bytes = take(nBytes);
  let bits = 0, value = 0, out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out;
}
