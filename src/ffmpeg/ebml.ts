// Reading EBML, the element format of Matroska and WebM: an element's ID and data size, and a
// master element's children. Shared by the module that rewrites a WebM's Tracks (webm-hdr.ts) and
// the one that reads an encoded WebM's length and height (webm-media.ts).

/** A data size of all ones: "unknown" (an element still being written, or a live stream). */
export const UNKNOWN = -1;

export interface Head {
  id: number;
  /** Data size, or UNKNOWN. */
  size: number;
  headLen: number;
}

/** An element's ID and size at `at` in buf, or undefined when buf ends first. */
export function readHead(buf: Buffer, at: number): Head | undefined {
  const idLen = vintLength(buf[at]);
  if (!idLen || idLen > 4 || at + idLen >= buf.length) return undefined;
  const id = buf.readUIntBE(at, idLen);
  const sizeLen = vintLength(buf[at + idLen]);
  if (!sizeLen || at + idLen + sizeLen > buf.length) return undefined;
  let size = buf[at + idLen]! & (0xff >> sizeLen);
  let allOnes = size === 0xff >> sizeLen;
  for (let i = 1; i < sizeLen; i++) {
    const b = buf[at + idLen + i]!;
    allOnes &&= b === 0xff;
    size = size * 256 + b;
  }
  return { id, size: allOnes ? UNKNOWN : size, headLen: idLen + sizeLen };
}

function vintLength(first: number | undefined): number {
  if (!first) return 0;
  return Math.clz32(first) - 23;
}

export interface El {
  id: number;
  data: Buffer;
}

/** A master element's children, in order; throws on one that overruns its parent. */
export function children(data: Buffer): El[] {
  const out: El[] = [];
  for (let at = 0; at < data.length; ) {
    const h = readHead(data, at);
    if (!h || h.size === UNKNOWN || at + h.headLen + h.size > data.length) throw new Error('a broken element');
    out.push({ id: h.id, data: data.subarray(at + h.headLen, at + h.headLen + h.size) });
    at += h.headLen + h.size;
  }
  return out;
}
