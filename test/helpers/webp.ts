// A WebP picture's size read from its RIFF header (src/ffmpeg/webp-media.ts), where a test only
// needs the size of an image nommer wrote: an ffprobe start costs about 0.2 s of CPU for what is a
// few bytes of the file.
import assert from 'node:assert/strict';
import { openSync, readFileSync, readSync, closeSync } from 'node:fs';
import { webpSizeIn } from '../../src/ffmpeg/webp-media.js';

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

/** The picture size in a WebP file's first 30 bytes `b` (nommer's own reader, which
 * webm-media.test holds to ffprobe's figures). */
function sizeIn(b: Buffer, path: string): { width: number; height: number } {
  const pic = webpSizeIn(b);
  if (!pic) throw new Error(`${path}: not a WebP nommer can read (RIFF WEBP with a VP8, VP8L or VP8X chunk)`);
  return { width: pic.width, height: pic.height };
}
