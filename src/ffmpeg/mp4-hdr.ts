// Writes an HDR source's static metadata (mastering display, content light) into the video sample
// entry of an fMP4/CMAF init segment: ffmpeg 5.1's mp4 muxer (under the dash muxer) writes the
// colour into vpcC/av1C and 'colr' but no static metadata, whatever its input carried.
// - VP9 ('vp09'): the VP codec ISO binding's 'SmDm' and 'CoLL' full boxes (chromaticities in 0.16
//   fixed point, luminance max in 24.8 and min in 18.14).
// - AV1 ('av01'): AV1-ISOBMFF says the 'mdcv' and 'clli' boxes of ISO/IEC 14496-12 SHOULD be there
//   for HDR (primaries G, B, R in 0.00002 units, luminance in 0.0001 cd/m²), matching the
//   metadata OBUs SVT-AV1 put in the bitstream.
// Only an init segment is rewritten: it holds no samples, so no offset elsewhere names its bytes.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { NommerError } from '../errors.js';
import type { StaticHdr } from './webm-hdr.js';

/** Boxes whose data is only child boxes, on the way to the sample entries. */
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl']);
/** The visual sample entry's own fields before its child boxes (ISO/IEC 14496-12 12.1.3). */
const VISUAL_SAMPLE_ENTRY_FIELDS = 78;
const OURS = new Set(['SmDm', 'CoLL', 'mdcv', 'clli']);

interface Box {
  type: string;
  /** The whole box, header included. */
  bytes: Buffer;
  body: Buffer;
}

function boxesOf(data: Buffer): Box[] {
  const out: Box[] = [];
  for (let at = 0; at < data.length; ) {
    if (at + 8 > data.length) throw new Error(`a truncated box header at byte ${at}`);
    let size = data.readUInt32BE(at);
    let head = 8;
    if (size === 1) {
      size = Number(data.readBigUInt64BE(at + 8));
      head = 16;
    } else if (size === 0) size = data.length - at;
    if (size < head || at + size > data.length) throw new Error(`a box of impossible size at byte ${at}`);
    out.push({
      type: data.toString('latin1', at + 4, at + 8),
      bytes: data.subarray(at, at + size),
      body: data.subarray(at + head, at + size),
    });
    at += size;
  }
  return out;
}

function box(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}

/** Unsigned big-endian integers of `bytes` bytes each, rounded and held to their range. */
function uints(values: number[], bytes: 2 | 4): Buffer {
  const b = Buffer.alloc(values.length * bytes);
  const max = 2 ** (8 * bytes) - 1;
  for (const [i, v] of values.entries()) b.writeUIntBE(Math.min(max, Math.max(0, Math.round(v))), i * bytes, bytes);
  return b;
}
const u16s = (values: number[]) => uints(values, 2);
const u32s = (values: number[]) => uints(values, 4);

const FULL_BOX_V0 = Buffer.alloc(4);

/** The static metadata as the boxes of a 'vp09' or 'av01' sample entry. */
export function hdrBoxes(entry: 'vp09' | 'av01', hdr: StaticHdr): Buffer[] {
  const m = hdr.masteringDisplay;
  const c = hdr.contentLight;
  const out: Buffer[] = [];
  if (entry === 'vp09') {
    if (m) {
      const xy = [...m.red, ...m.green, ...m.blue, ...m.whitePoint].map((v) => v * 65536);
      const lum = u32s([m.maxLuminance * 256, m.minLuminance * 16384]);
      out.push(box('SmDm', Buffer.concat([FULL_BOX_V0, u16s(xy), lum])));
    }
    if (c) out.push(box('CoLL', Buffer.concat([FULL_BOX_V0, u16s([c.maxCll, c.maxFall])])));
  } else {
    if (m) {
      const xy = [...m.green, ...m.blue, ...m.red, ...m.whitePoint].map((v) => v * 50000);
      out.push(box('mdcv', Buffer.concat([u16s(xy), u32s([m.maxLuminance * 10000, m.minLuminance * 10000])])));
    }
    if (c) out.push(box('clli', u16s([c.maxCll, c.maxFall])));
  }
  return out;
}

/** A sample entry's child boxes with the static metadata after its 'colr' (else at the end),
 * any earlier copy of it dropped. */
function entryChildren(children: Buffer, entry: 'vp09' | 'av01', hdr: StaticHdr): Buffer {
  const kept = boxesOf(children).filter((b) => !OURS.has(b.type));
  const at = kept.findIndex((b) => b.type === 'colr');
  const ours = hdrBoxes(entry, hdr);
  const parts = kept.map((b) => b.bytes);
  parts.splice(at < 0 ? parts.length : at + 1, 0, ...ours);
  return Buffer.concat(parts);
}

/** The boxes of `data` with the metadata in every VP9 or AV1 sample entry; `found` counts them. */
function edit(data: Buffer, hdr: StaticHdr, found: { n: number }): Buffer {
  return Buffer.concat(
    boxesOf(data).map((b) => {
      if (CONTAINERS.has(b.type)) return box(b.type, edit(b.body, hdr, found));
      // stsd: a full box (version, flags) with an entry count ahead of its sample entries.
      if (b.type === 'stsd')
        return box(b.type, Buffer.concat([b.body.subarray(0, 8), edit(b.body.subarray(8), hdr, found)]));
      if (b.type === 'vp09' || b.type === 'av01') {
        found.n++;
        const fields = b.body.subarray(0, VISUAL_SAMPLE_ENTRY_FIELDS);
        return box(
          b.type,
          Buffer.concat([fields, entryChildren(b.body.subarray(VISUAL_SAMPLE_ENTRY_FIELDS), b.type, hdr)]),
        );
      }
      return b.bytes;
    }),
  );
}

/** The init segment with the static metadata in its VP9/AV1 sample entries. Pure. */
export function initWithHdr(init: Buffer, hdr: StaticHdr): { bytes: Buffer; entries: number } {
  const found = { n: 0 };
  const bytes = edit(init, hdr, found);
  return { bytes, entries: found.n };
}

/** The first box of `type` under the sample entries of an init segment (vp09's vpcC...). */
function findInEntry(data: Buffer, entry: string, type: string): Buffer | undefined {
  for (const b of boxesOf(data)) {
    const inner = CONTAINERS.has(b.type)
      ? findInEntry(b.body, entry, type)
      : b.type === 'stsd'
        ? findInEntry(b.body.subarray(8), entry, type)
        : b.type === entry
          ? boxesOf(b.body.subarray(VISUAL_SAMPLE_ENTRY_FIELDS)).find((c) => c.type === type)?.body
          : undefined;
    if (inner) return inner;
  }
  return undefined;
}

/**
 * The full codecs string of a VP9 init segment, from its vpcC ("vp09.02.10.10.01.09.16.09.00"):
 * ffmpeg writes the short form ("vp09.02.10.10"), whose omitted fields mean BT.709 (VP codec ISO
 * binding), so a player asked about it hears of no HDR. Undefined for anything else.
 */
export function vp9CodecsString(init: Buffer): string | undefined {
  const vpcc = findInEntry(init, 'vp09', 'vpcC');
  // A version 1 full box: version and flags, then profile, level, bit depth / chroma / range,
  // primaries, transfer, matrix.
  if (!vpcc || vpcc.length < 10 || vpcc[0] !== 1) return undefined;
  const [profile, level, packed, primaries, transfer, matrix] = vpcc.subarray(4, 10);
  const dd = (n: number) => String(n).padStart(2, '0');
  const fields = [profile!, level!, packed! >> 4, (packed! >> 1) & 7, primaries!, transfer!, matrix!, packed! & 1];
  return `vp09.${fields.map(dd).join('.')}`;
}

/** Writes `hdr` into the init segment at `path` (replaced whole, by rename); a segment with no
 * VP9 or AV1 sample entry is an error, not silently left as it was. */
export async function writeInitHdr(path: string, hdr: StaticHdr): Promise<void> {
  if (!hdr.masteringDisplay && !hdr.contentLight) return;
  const bad = (why: string) =>
    new NommerError('OUTPUT_UNWRITABLE', `cannot write HDR metadata into ${path}: ${why}`, {
      hint: 'the init segment is not one nommer could parse; report it with the preset used',
    });
  let out: { bytes: Buffer; entries: number };
  try {
    out = initWithHdr(await readFile(path), hdr);
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (out.entries === 0) throw bad('no VP9 or AV1 sample entry');
  const tmp = `${path}.${randomBytes(4).toString('hex')}.hdr`;
  try {
    await writeFile(tmp, out.bytes, { flag: 'wx', mode: 0o644 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw bad((err as Error).message);
  }
}
