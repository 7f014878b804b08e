// A WebP picture's size read from its RIFF header, where a test only needs the size of an image
// nommer wrote: an ffprobe start costs about 0.2 s of CPU for what is a few bytes of the file.
import assert from 'node:assert/strict';
import { openSync, readFileSync, readSync, closeSync } from 'node:fs';

/** Width and height of the WebP at `path` (lossy, lossless or extended); throws on anything else. */
export function webpSize(path: string): { width: number; height: number } {
  const b = Buffer.alloc(30);
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, b, 0, 30, 0) < 30) throw new Error(`${path}: too short for a WebP`);
  } finally {
    closeSync(fd);
  }
  return sizeIn(b, path);
}

/** A complete WebP file: a picture header webpSize reads, and the RIFF size field matching the file. */
export function assertWholeWebp(path: string): void {
  const b = readFileSync(path);
  sizeIn(b, path);
  assert.equal(b.readUInt32LE(4) + 8, b.length, `${path}: the size RIFF says is the file's`);
}

/** The picture size in a WebP file's first 30 bytes `b`. */
function sizeIn(b: Buffer, path: string): { width: number; height: number } {
  if (b.length < 30) throw new Error(`${path}: too short for a WebP`);
  if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WEBP')
    throw new Error(`${path}: not a RIFF WEBP file`);
  const chunk = b.toString('latin1', 12, 16);
  // The layouts of the WebP container spec: a VP8 key frame's 14-bit sizes after its start code,
  // VP8L's 14-bit sizes minus one after its signature, VP8X's 24-bit canvas sizes minus one.
  if (chunk === 'VP8 ' && b.readUIntBE(23, 3) === 0x9d012a)
    return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  if (chunk === 'VP8L' && b[20] === 0x2f) {
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
  throw new Error(`${path}: WebP chunk ${JSON.stringify(chunk)} is not one of VP8, VP8L, VP8X`);
}
