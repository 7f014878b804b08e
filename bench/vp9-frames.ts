// What a VP9 WebM's packets carry, read from their frame headers with ffmpeg's trace_headers
// bitstream filter (a stream copy, nothing decoded): per packet its size, whether it is a
// keyframe, and each frame's base quantizer and which reference slots it refreshes. The scene
// bench uses it to say where a chunked encode's extra bytes are, frame by frame.
import { spawnSync } from 'node:child_process';
import { FFMPEG } from '../test/helpers/media.js';

export interface Vp9Frame {
  key: boolean;
  shown: boolean;
  /** base_q_idx, 0-255. */
  q: number;
  /** refresh_frame_flags (a keyframe refreshes all eight slots). */
  refresh: number;
}

export interface Vp9Packet {
  pts: number;
  size: number;
  key: boolean;
  /** The frames of the packet (a superframe holds a hidden alt-ref and a shown frame). */
  frames: Vp9Frame[];
}

/** The video packets of `path` in presentation order, with their frames' headers. */
export function vp9Packets(path: string): Vp9Packet[] {
  const r = spawnSync(
    FFMPEG,
    [
      '-hide_banner',
      '-v',
      'trace',
      '-i',
      path,
      '-map',
      '0:v:0',
      '-c',
      'copy',
      '-bsf:v',
      'trace_headers',
      '-f',
      'null',
      '-',
    ],
    { encoding: 'utf8', maxBuffer: 1 << 30 },
  );
  if (r.status !== 0) throw new Error(`reading the frame headers of ${path} failed: ${r.stderr.slice(-500)}`);
  const packets: Vp9Packet[] = [];
  let frame: Partial<Vp9Frame> | undefined;
  for (const line of r.stderr.split('\n')) {
    if (!line.includes('[trace_headers')) continue;
    const p = /Packet: (\d+) bytes,( key frame,)? pts (-?\d+)/.exec(line);
    if (p) {
      packets.push({ size: Number(p[1]), key: Boolean(p[2]), pts: Number(p[3]), frames: [] });
      continue;
    }
    const f = /\] \d+\s+(show_existing_frame|frame_type|show_frame|base_q_idx|refresh_frame_flags)\s+\S+ = (\d+)/.exec(
      line,
    );
    const packet = packets.at(-1);
    if (!f || !packet) continue;
    const value = Number(f[2]);
    if (f[1] === 'show_existing_frame') {
      // A frame shown again from a slot carries no header of its own beyond this bit.
      frame = value ? undefined : { refresh: 0 };
      if (frame) packet.frames.push(frame as Vp9Frame);
    } else if (frame) {
      if (f[1] === 'frame_type') frame.key = value === 0;
      else if (f[1] === 'show_frame') frame.shown = value === 1;
      else if (f[1] === 'base_q_idx') frame.q = value;
      else frame.refresh = value;
    }
  }
  for (const p of packets) for (const f of p.frames) if (f.key) f.refresh = 0xff;
  return packets.sort((a, b) => a.pts - b.pts);
}

/**
 * The quantizer of a packet that is one shown inter frame refreshing a single reference slot (the
 * "last" frame): in libvpx's constrained-quality mode such a frame never goes below the active CQ
 * level, so one below the preset's CQ level shows that libvpx lowered it. Undefined for any other
 * packet (keyframes and golden frames are boosted below the CQ level by design).
 */
export function plainInterQ(p: Vp9Packet): number | undefined {
  const [f, ...more] = p.frames;
  if (!f || more.length || f.key || !f.shown) return undefined;
  return f.refresh !== 0 && (f.refresh & (f.refresh - 1)) === 0 ? f.q : undefined;
}
