// An encoded Ogg Opus file's length, read from its own pages (RFC 7845): the last page's granule
// position counts 48 kHz samples from the stream's start, including the encoder's pre-skip that a
// player drops (the OpusHead's pre-skip field). Its length is (last granule - pre-skip) / 48000:
// what a listener hears. (ffprobe 5.1 reports the granule alone, 6.5 ms longer for libopus's 312
// samples.) Read without starting ffprobe (cost/output-media.ts; see webm-media.ts for why). A
// file that is not one whole Opus stream in Ogg gives undefined, and its caller asks ffprobe.
import { open } from 'node:fs/promises';
import { readAt } from './read-at.js';

/** Ogg pages are at most 65,307 bytes; the last whole one starts within this many of the end. */
const TAIL = 1 << 17;
const OPUS_RATE = 48_000;

interface Page {
  at: number;
  bos: boolean;
  granule: bigint;
  serial: number;
  /** Header and body length. */
  length: number;
}

/** The Ogg page whose header starts at `at` in `b`, when all of it (header and body) is in `b`. */
function pageAt(b: Buffer, at: number): Page | undefined {
  if (at + 27 > b.length || b.toString('latin1', at, at + 4) !== 'OggS' || b[at + 4] !== 0) return undefined;
  const segments = b[at + 26]!;
  if (at + 27 + segments > b.length) return undefined;
  let body = 0;
  for (let i = 0; i < segments; i++) body += b[at + 27 + i]!;
  const length = 27 + segments + body;
  if (at + length > b.length) return undefined;
  return {
    at,
    bos: (b[at + 5]! & 0x02) !== 0,
    granule: b.readBigInt64LE(at + 6),
    serial: b.readUInt32LE(at + 14),
    length,
  };
}

/** Seconds of audio in an Ogg file holding one Opus stream, or undefined (then ffprobe is asked). */
export async function readOggOpusSeconds(path: string): Promise<number | undefined> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const head = await readAt(fh, 0, 4096);
    const first = pageAt(head, 0);
    if (!first?.bos) return undefined;
    const body = 27 + head[26]!;
    if (head.toString('latin1', body, body + 8) !== 'OpusHead') return undefined;
    // One stream: the page after the head must not start another (a second BOS page).
    const second = pageAt(head, first.length);
    if (!second || second.bos || second.serial !== first.serial) return undefined;
    const preSkip = head.readUInt16LE(body + 10);
    const tailAt = Math.max(0, size - TAIL);
    const tail = await readAt(fh, tailAt, size - tailAt);
    // The last whole page of the stream, which must end the file: a file cut short is not read here.
    for (let at = tail.lastIndexOf('OggS'); at >= 0; at = at > 0 ? tail.lastIndexOf('OggS', at - 1) : -1) {
      const page = pageAt(tail, at);
      if (!page) continue;
      if (page.at + page.length !== tail.length || page.serial !== first.serial || page.granule < 0n) return undefined;
      const samples = Number(page.granule) - preSkip;
      return samples >= 0 ? samples / OPUS_RATE : undefined;
    }
    return undefined;
  } catch {
    return undefined; // not readable as Ogg here: ffprobe says what it makes of it
  } finally {
    await fh.close();
  }
}
