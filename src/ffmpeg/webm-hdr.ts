// Writes an HDR source's static metadata (mastering display, content light) into a WebM file's
// video Colour element (MasteringMetadata, MaxCLL, MaxFALL): ffmpeg 5.1 tags the colours but
// drops this metadata for libvpx-vp9 (and libaom-av1), which take frame side data nowhere.
// Written here rather than with mkvpropedit: mkvpropedit, finding no room, moves Tracks to the end
// of the file, behind the clusters, where browsers' WebM parsers (which read Tracks before the
// first Cluster and never follow the SeekHead) do not look; and it would be one more tool on every
// worker. This module rewrites the file instead: the new Tracks in place, every later element
// shifted, and the positions that name them (SeekHead, Cues, the Segment's size) moved to match.
// Into a new private file beside the output, renamed over it: a failure leaves the output as
// ffmpeg wrote it and the error says why.
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { NommerError } from '../errors.js';
import { children, type El, type Head, readHead, UNKNOWN } from './ebml.js';
import { readAt } from './read-at.js';
import type { ContentLight, MasteringDisplay } from './types.js';

const ID = {
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Seek: 0x4dbb,
  SeekPosition: 0x53ac,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackType: 0x83,
  Video: 0xe0,
  Colour: 0x55b0,
  MaxCLL: 0x55bc,
  MaxFALL: 0x55bd,
  MasteringMetadata: 0x55d0,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTrackPositions: 0xb7,
  CueClusterPosition: 0xf1,
  Crc32: 0xbf,
} as const;

/** MasteringMetadata's children, in order: R, G, B, white point (x, y), then max and min luminance. */
const MASTERING_IDS = [0x55d1, 0x55d2, 0x55d3, 0x55d4, 0x55d5, 0x55d6, 0x55d7, 0x55d8, 0x55d9, 0x55da];

/** Elements this module reads whole into memory (SeekHead, Tracks, Cues). */
const MAX_REWRITTEN = 64 << 20;

function bad(path: string, why: string): NommerError {
  return new NommerError('OUTPUT_UNWRITABLE', `cannot write HDR metadata into ${path}: ${why}`, {
    hint: 'the output is a WebM file nommer could not parse; report it with the preset used',
  });
}

// ---- EBML writing ----------------------------------------------------------------------------

function encodeId(id: number): Buffer {
  const len = id > 0xffffff ? 4 : id > 0xffff ? 3 : id > 0xff ? 2 : 1;
  const b = Buffer.alloc(len);
  b.writeUIntBE(id, 0, len);
  return b;
}

/** A data size in `len` bytes (the shortest that holds it when len is not given). */
function encodeSize(size: number, len?: number): Buffer {
  let n = len ?? 1;
  // All-ones means "unknown": a size must stay below 2^(7n) - 1.
  while (!len && size >= 2 ** (7 * n) - 1) n++;
  if (n > 8 || size >= 2 ** (7 * n) - 1) throw new Error(`size ${size} does not fit ${n} bytes`);
  const b = Buffer.alloc(n);
  let v = size;
  for (let i = n - 1; i >= 0; i--) {
    b[i] = v % 256;
    v = Math.floor(v / 256);
  }
  b[0]! |= 0x80 >> (n - 1);
  return b;
}

function element(id: number, data: Buffer): Buffer {
  return Buffer.concat([encodeId(id), encodeSize(data.length), data]);
}

/** Rebuilds a master element's data, each child through `fn`; CRC-32s are dropped (optional in
 * Matroska, and wrong once a child changes). */
function rebuild(data: Buffer, fn: (e: El) => Buffer[]): Buffer {
  return Buffer.concat(children(data).flatMap((e) => (e.id === ID.Crc32 ? [] : fn(e))));
}

function uint(n: number): Buffer {
  let len = 1;
  while (n >= 2 ** (8 * len)) len++;
  const b = Buffer.alloc(len);
  b.writeUIntBE(n, 0, len);
  return b;
}

function float(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n);
  return b;
}

// ---- the Colour element ----------------------------------------------------------------------

export interface StaticHdr {
  masteringDisplay?: MasteringDisplay;
  contentLight?: ContentLight;
}

function colourWith(data: Buffer, hdr: StaticHdr): Buffer {
  const ours: Set<number> = new Set([ID.MaxCLL, ID.MaxFALL, ID.MasteringMetadata]);
  const kept = rebuild(data, (e) => (ours.has(e.id) ? [] : [element(e.id, e.data)]));
  const add: Buffer[] = [];
  if (hdr.contentLight) {
    add.push(element(ID.MaxCLL, uint(Math.round(hdr.contentLight.maxCll))));
    add.push(element(ID.MaxFALL, uint(Math.round(hdr.contentLight.maxFall))));
  }
  const m = hdr.masteringDisplay;
  if (m) {
    const values = [...m.red, ...m.green, ...m.blue, ...m.whitePoint, m.maxLuminance, m.minLuminance];
    const mm = Buffer.concat(values.map((v, i) => element(MASTERING_IDS[i]!, float(v))));
    add.push(element(ID.MasteringMetadata, mm));
  }
  return Buffer.concat([kept, ...add]);
}

function isVideoTrack(entry: Buffer): boolean {
  const t = children(entry).find((e) => e.id === ID.TrackType);
  return Boolean(t && t.data.length > 0 && t.data.readUIntBE(0, t.data.length) === 1);
}

/** The Tracks element's data with the static metadata in every video track's Colour. */
export function tracksWithHdr(tracks: Buffer, hdr: StaticHdr): Buffer {
  const video = (data: Buffer): Buffer => {
    let found = false;
    const out = rebuild(data, (e) => {
      if (e.id !== ID.Colour) return [element(e.id, e.data)];
      found = true;
      return [element(ID.Colour, colourWith(e.data, hdr))];
    });
    return found ? out : Buffer.concat([out, element(ID.Colour, colourWith(Buffer.alloc(0), hdr))]);
  };
  const entry = (data: Buffer): Buffer =>
    rebuild(data, (e) => [element(e.id, e.id === ID.Video ? video(e.data) : e.data)]);
  return rebuild(tracks, (e) => [
    element(e.id, e.id === ID.TrackEntry && isVideoTrack(e.data) ? entry(e.data) : e.data),
  ]);
}

/** Replaces every uint `leaf` under the masters `path` (outermost first) with map(value). */
function remapUints(data: Buffer, path: readonly number[], leaf: number, map: (n: number) => number): Buffer {
  return rebuild(data, (e) => {
    if (path.length > 0 && e.id === path[0]) return [element(e.id, remapUints(e.data, path.slice(1), leaf, map))];
    if (path.length === 0 && e.id === leaf) return [element(e.id, uint(map(e.data.readUIntBE(0, e.data.length))))];
    return [element(e.id, e.data)];
  });
}

// ---- the file --------------------------------------------------------------------------------

interface TopLevel extends Head {
  /** Offset from the Segment's data start. */
  at: number;
}

interface Layout {
  /** File offset of the Segment element and of its data. */
  segment: number;
  segmentData: number;
  segmentHead: Head;
  elements: TopLevel[];
  fileSize: number;
}

/** The Segment's top-level elements (each Cluster skipped by its size). */
async function layout(fh: FileHandle, path: string): Promise<Layout> {
  const fileSize = (await fh.stat()).size;
  const ebml = readHead(await readAt(fh, 0, 16), 0);
  if (ebml?.id !== 0x1a45dfa3 || ebml.size === UNKNOWN) throw bad(path, 'not an EBML file');
  const segment = ebml.headLen + ebml.size;
  const segmentHead = readHead(await readAt(fh, segment, 16), 0);
  if (!segmentHead || segmentHead.id !== ID.Segment) throw bad(path, 'no Segment');
  const segmentData = segment + segmentHead.headLen;
  const end = segmentHead.size === UNKNOWN ? fileSize : Math.min(fileSize, segmentData + segmentHead.size);
  const elements: TopLevel[] = [];
  for (let pos = segmentData; pos < end; ) {
    const h = readHead(await readAt(fh, pos, 16), 0);
    if (!h) throw bad(path, `a broken element at byte ${pos}`);
    // ffmpeg writes every size of a seekable file; an unknown one cannot be skipped or moved.
    if (h.size === UNKNOWN || pos + h.headLen + h.size > end)
      throw bad(path, `an element of unknown or overlong size at byte ${pos}`);
    elements.push({ ...h, at: pos - segmentData });
    pos += h.headLen + h.size;
  }
  if (!elements.some((e) => e.id === ID.Tracks)) throw bad(path, 'no Tracks');
  return { segment, segmentData, segmentHead, elements, fileSize };
}

/** The element list's new bytes (only those rewritten) until positions settle. */
async function rewritten(fh: FileHandle, l: Layout, hdr: StaticHdr): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  const originals = new Map<number, Buffer>();
  for (const [i, e] of l.elements.entries()) {
    if (e.id !== ID.Tracks && e.id !== ID.SeekHead && e.id !== ID.Cues) continue;
    if (e.size > MAX_REWRITTEN) throw new Error(`a ${e.size}-byte element`);
    originals.set(i, await readAt(fh, l.segmentData + e.at + e.headLen, e.size));
  }
  for (const [i, data] of originals)
    if (l.elements[i]!.id === ID.Tracks) out.set(i, element(ID.Tracks, tracksWithHdr(data, hdr)));
  // The SeekHead and Cues hold positions that depend on the sizes before them, theirs included:
  // rebuild until the sizes stop changing (two rounds in practice).
  for (let round = 0; round < 8; round++) {
    const sizes = l.elements.map((e, i) => out.get(i)?.length ?? e.headLen + e.size);
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const map = (pos: number): number => {
      // The last element starting at or before pos (binary search: a long file has many clusters).
      let lo = 0,
        hi = l.elements.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (l.elements[mid]!.at <= pos) lo = mid;
        else hi = mid - 1;
      }
      return starts[lo]! + (pos - l.elements[lo]!.at);
    };
    let changed = false;
    for (const [i, data] of originals) {
      const id = l.elements[i]!.id;
      if (id === ID.Tracks) continue;
      const next =
        id === ID.SeekHead
          ? element(id, remapUints(data, [ID.Seek], ID.SeekPosition, map))
          : element(id, remapUints(data, [ID.CuePoint, ID.CueTrackPositions], ID.CueClusterPosition, map));
      if (next.length !== sizes[i]) changed = true;
      out.set(i, next);
    }
    if (!changed) return out;
  }
  throw new Error('positions did not settle');
}

async function copyRange(from: FileHandle, to: FileHandle, start: number, end: number): Promise<void> {
  const buf = Buffer.alloc(Math.min(4 << 20, Math.max(1, end - start)));
  for (let at = start; at < end; ) {
    const { bytesRead } = await from.read(buf, 0, Math.min(buf.length, end - at), at);
    if (bytesRead === 0) throw new Error('the file ended early');
    await to.write(buf.subarray(0, bytesRead));
    at += bytesRead;
  }
}

/** Writes `hdr` into the video track's Colour of the WebM (or Matroska) file at `path`. */
export async function writeWebmHdr(path: string, hdr: StaticHdr): Promise<void> {
  if (!hdr.masteringDisplay && !hdr.contentLight) return;
  const tmp = `${path}.${randomBytes(4).toString('hex')}.hdr`;
  const src = await open(path, 'r');
  try {
    const l = await layout(src, path);
    const fresh = await rewritten(src, l, hdr).catch((err: Error) => {
      throw err instanceof NommerError ? err : bad(path, err.message);
    });
    const dataSize = l.elements.reduce((n, e, i) => n + (fresh.get(i)?.length ?? e.headLen + e.size), 0);
    const dst = await open(tmp, 'wx', 0o600);
    try {
      await copyRange(src, dst, 0, l.segment);
      const sizeLen = l.segmentHead.headLen - 4;
      const known = l.segmentHead.size !== UNKNOWN;
      await dst.write(
        Buffer.concat([
          encodeId(ID.Segment),
          known
            ? encodeSize(dataSize, dataSize < 2 ** (7 * sizeLen) - 1 ? sizeLen : undefined)
            : encodeUnknown(sizeLen),
        ]),
      );
      await writeElements(src, dst, l, fresh);
      const end = l.segmentData + l.elements.reduce((n, e) => Math.max(n, e.at + e.headLen + e.size), 0);
      await copyRange(src, dst, end, l.fileSize);
      await dst.sync();
    } finally {
      await dst.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof NommerError) throw err;
    throw bad(path, (err as Error).message);
  } finally {
    await src.close();
  }
}

function encodeUnknown(len: number): Buffer {
  const b = Buffer.alloc(len, 0xff);
  b[0] = (0x80 >> (len - 1)) | (0xff >> len);
  return b;
}

/** Every element in order: the rewritten ones from memory, runs of the others copied. */
async function writeElements(src: FileHandle, dst: FileHandle, l: Layout, fresh: Map<number, Buffer>): Promise<void> {
  let run: [number, number] | undefined;
  const flush = async () => {
    if (run) await copyRange(src, dst, l.segmentData + run[0], l.segmentData + run[1]);
    run = undefined;
  };
  for (const [i, e] of l.elements.entries()) {
    const bytes = fresh.get(i);
    if (bytes) {
      await flush();
      await dst.write(bytes);
    } else if (run && run[1] === e.at) run[1] = e.at + e.headLen + e.size;
    else {
      await flush();
      run = [e.at, e.at + e.headLen + e.size];
    }
  }
  await flush();
}
