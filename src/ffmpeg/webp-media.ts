// A still WebP's picture size, read from its RIFF header (the WebP container spec's layouts): a
// VP8 key frame's 14-bit sizes after its start code, VP8L's 14-bit sizes minus one after its
// signature, VP8X's 24-bit canvas sizes minus one. A worker that makes a poster or a thumbnail
// records the output's height (and 0 seconds: a still has no length) for the job's cost per output
// minute from these bytes instead of starting ffprobe (cost/output-media.ts; see webm-media.ts for
// why). An animated WebP, a file cut short, or anything else gives undefined, and ffprobe is asked.
import { open } from 'node:fs/promises';
import { readAt } from './read-at.js';

/** The RIFF and WebP headers and the first chunk's header and picture header. */
const HEAD = 30;
/** VP8X flags: the file is an animation. */
const ANIMATION = 0x02;

/** Width and height in a WebP file's first 30 bytes, or undefined when they are not a WebP's. */
export function webpSizeIn(b: Buffer): { width: number; height: number; animated: boolean } | undefined {
  if (b.length < HEAD || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WEBP')
    return undefined;
  const chunk = b.toString('latin1', 12, 16);
  if (chunk === 'VP8 ' && b.readUIntBE(23, 3) === 0x9d012a)
    return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff, animated: false };
  if (chunk === 'VP8L' && b[20] === 0x2f) {
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, animated: false };
  }
  if (chunk === 'VP8X')
    return {
      width: b.readUIntLE(24, 3) + 1,
      height: b.readUIntLE(27, 3) + 1,
      animated: (b[20]! & ANIMATION) !== 0,
    };
  return undefined;
}

/** A whole still WebP's height (and its 0 seconds), or undefined (then ffprobe is asked). */
export async function readWebpStill(path: string): Promise<{ seconds: number; height: number } | undefined> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const head = await readAt(fh, 0, HEAD);
    const pic = webpSizeIn(head);
    // The RIFF size field counts the bytes after it: a file cut short is not read here.
    if (!pic || pic.animated || pic.height === 0 || head.readUInt32LE(4) + 8 !== size) return undefined;
    return { seconds: 0, height: pic.height };
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}
