// An encoded WebM's length and video height, read from the file's own header elements: the
// Segment Info's Duration (ffmpeg's muxer writes it when it closes a seekable file) and the video
// track's PixelHeight. These are the very fields ffprobe reports for a WebM (its format duration
// and its stream height), read without starting ffprobe: on Debian's ffmpeg 5.1 a probe costs
// about 0.13 CPU-seconds of start-up (215 shared libraries bound at load), which a worker paid
// after every encode only to learn these two numbers (cost/output-media.ts). A file that does not
// record them before its first Cluster gives undefined, and its caller asks ffprobe.
import { type FileHandle, open } from 'node:fs/promises';
import { children, type El, readHead, UNKNOWN } from './ebml.js';
import { readAt } from './read-at.js';

const ID = {
  Ebml: 0x1a45dfa3,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Duration: 0x4489,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackType: 0x83,
  Video: 0xe0,
  PixelHeight: 0xba,
  Cluster: 0x1f43b675,
} as const;

/** Info and Tracks are a few hundred bytes; larger ones are not what ffmpeg writes. */
const MAX_HEADER_ELEMENT = 1 << 20;
/** Top-level elements looked at before giving up on finding Info and Tracks. */
const MAX_ELEMENTS = 64;

export interface WebmMedia {
  /** Seconds of media, as ffprobe gives them (the Duration truncated to microseconds). */
  seconds: number;
  /** The first video track's height in lines; null when the file has no video track. */
  height: number | null;
}

/** The file's recorded length and video height, or undefined when it records no Duration (or is
 * not a WebM/Matroska file nommer can read). */
export async function readWebmMedia(path: string): Promise<WebmMedia | undefined> {
  const fh = await open(path, 'r');
  try {
    const top = await headerElements(fh);
    if (!top) return undefined;
    const seconds = secondsOf(top.info);
    const height = heightOf(top.tracks);
    return seconds === undefined || height === undefined ? undefined : { seconds, height };
  } catch {
    return undefined; // a broken element: ffprobe says what it makes of the file
  } finally {
    await fh.close();
  }
}

/** The data of the Segment's Info and Tracks, read from before its first Cluster. */
async function headerElements(fh: FileHandle): Promise<{ info: Buffer; tracks: Buffer } | undefined> {
  const ebml = readHead(await readAt(fh, 0, 16), 0);
  if (ebml?.id !== ID.Ebml || ebml.size === UNKNOWN) return undefined;
  const segment = ebml.headLen + ebml.size;
  const seg = readHead(await readAt(fh, segment, 16), 0);
  if (seg?.id !== ID.Segment) return undefined;
  let info: Buffer | undefined;
  let tracks: Buffer | undefined;
  let pos = segment + seg.headLen;
  for (let n = 0; n < MAX_ELEMENTS && !(info && tracks); n++) {
    const h = readHead(await readAt(fh, pos, 16), 0);
    if (!h || h.id === ID.Cluster || h.size === UNKNOWN) return undefined;
    if (h.id === ID.Info || h.id === ID.Tracks) {
      if (h.size > MAX_HEADER_ELEMENT) return undefined;
      const data = await readAt(fh, pos + h.headLen, h.size);
      if (data.length < h.size) return undefined;
      if (h.id === ID.Info) info = data;
      else tracks = data;
    }
    pos += h.headLen + h.size;
  }
  return info && tracks ? { info, tracks } : undefined;
}

function uintOf(e: El | undefined): number | undefined {
  return e && e.data.length > 0 && e.data.length <= 6 ? e.data.readUIntBE(0, e.data.length) : undefined;
}

/** Info's Duration in seconds, as ffmpeg's Matroska demuxer turns it into the format's duration
 * (whole microseconds); undefined when the muxer wrote none. */
function secondsOf(info: Buffer): number | undefined {
  const els = children(info);
  const d = els.find((e) => e.id === ID.Duration)?.data;
  const duration = d?.length === 8 ? d.readDoubleBE(0) : d?.length === 4 ? d.readFloatBE(0) : undefined;
  if (duration === undefined || !Number.isFinite(duration) || duration < 0) return undefined;
  const scale = uintOf(els.find((e) => e.id === ID.TimestampScale)) ?? 1_000_000;
  return Math.trunc((duration * scale) / 1000) / 1e6;
}

/** The first video track's PixelHeight; null without a video track, undefined when it has none. */
function heightOf(tracks: Buffer): number | null | undefined {
  for (const entry of children(tracks)) {
    if (entry.id !== ID.TrackEntry) continue;
    const fields = children(entry.data);
    if (uintOf(fields.find((e) => e.id === ID.TrackType)) !== 1) continue;
    const video = fields.find((e) => e.id === ID.Video);
    const h = video && uintOf(children(video.data).find((e) => e.id === ID.PixelHeight));
    return h && h > 0 ? h : undefined;
  }
  return null;
}
