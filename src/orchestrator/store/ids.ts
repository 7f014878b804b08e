// Job ids: 'j_' + 10 characters of millisecond time + 16 random characters (Crockford base32,
// lower case), so ids sort by creation time, are unguessable, and need no coordination.
//
// Within one process ids are also strictly increasing (like ULID's monotonic factory): the first
// id of a millisecond draws fresh random characters; another id in the same millisecond, or with
// a clock that went back, keeps the last id's time and adds one to its random part (with carry).
// So two jobs created in one millisecond still sort in creation order.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
/** The largest time 10 base32 characters hold (2^50 - 1 ms, about the year 37648). */
const MAX_TIME = 2 ** 50 - 1;

/** A generator of strictly increasing job ids (its own "last id" state). */
export function jobIdFactory(): (now?: number) => string {
  let lastTime = -1;
  let lastRandom = '';
  return (now: number = Date.now()) => {
    const time = Math.min(MAX_TIME, Math.max(0, Math.trunc(now)));
    if (time > lastTime) {
      lastTime = time;
      lastRandom = encodeRandom((RANDOM_CHARS * 5) / 8);
    } else {
      const next = incrementBase32(lastRandom);
      if (next === undefined) {
        // The random part ran over (2^80 ids in one millisecond, or a random draw close to the
        // top): move on to the next millisecond with fresh random characters.
        if (lastTime >= MAX_TIME) throw new Error('job id space exhausted');
        lastTime += 1;
        lastRandom = encodeRandom((RANDOM_CHARS * 5) / 8);
      } else {
        lastRandom = next;
      }
    }
    return `j_${encodeTime(lastTime)}${lastRandom}`;
  };
}

/** The process's job ids: strictly increasing, whatever the clock does. */
export const newJobId: (now?: number) => string = jobIdFactory();

/** Task ids read as `<jobId>.<key>` (e.g. `j_01k….encode`, `j_01k….chunk-007`), so logs name both. */
export function taskId(jobId: string, key: string): string {
  return `${jobId}.${key}`;
}

function encodeTime(ms: number): string {
  let n = ms;
  let out = '';
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[n % 32] + out;
    n = Math.floor(n / 32);
  }
  return out;
}

/** s + 1 in base32 (same length), or undefined when every character is already the last one. */
function incrementBase32(s: string): string | undefined {
  const chars = s.split('');
  for (let i = chars.length - 1; i >= 0; i--) {
    const d = ALPHABET.indexOf(chars[i]!);
    if (d < 31) {
      chars[i] = ALPHABET[d + 1]!;
      return chars.join('');
    }
    chars[i] = ALPHABET[0]!;
  }
  return undefined;
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
  let bits = 0,
    value = 0,
    out = '';
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
