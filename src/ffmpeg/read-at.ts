// Positioned reads of a media file's own bytes, for the readers that take a container's facts
// from its headers and pages instead of starting ffprobe (ebml.ts and webm-media.ts for WebM,
// ogg-media.ts for Ogg).
import type { FileHandle } from 'node:fs/promises';

/** Up to `len` bytes of the file from `at` (fewer where it ends). */
export async function readAt(fh: FileHandle, at: number, len: number): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  const { bytesRead } = await fh.read(buf, 0, len, at);
  return buf.subarray(0, bytesRead);
}
