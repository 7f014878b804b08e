// HDR test sources and checks shared by the HDR tests: generated HDR10 and HLG sources (HEVC 10-bit
// from libx265, HDR10's mastering display and content light in SEI) and what ffprobe reads back.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { MasteringDisplay } from '../../src/ffmpeg/types.js';
import { getPreset } from '../../src/presets/registry.js';
import type { ResolvedPreset } from '../../src/presets/schema.js';
import { FFMPEG, FFPROBE } from './media.js';

// BT.2020 primaries, D65, 1000 cd/m² peak, 0.0001 minimum (x265 units: 1/50000 and 1/10000 cd/m²).
export const MASTER = 'G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)';
export const EXPECTED_MASTERING: MasteringDisplay = {
  red: [0.68, 0.32],
  green: [0.265, 0.69],
  blue: [0.15, 0.06],
  whitePoint: [0.3127, 0.329],
  maxLuminance: 1000,
  minLuminance: 0.0001,
};

export function run(bin: string, args: string[]): string {
  const r = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${bin} ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

/** A 10-bit HEVC clip tagged BT.2020 with `transfer`; HDR10 gets its static metadata in SEI.
 * `keyint`: a keyframe every that many frames (where a chunked job may cut); `fps` 24 unless said. */
export function hevcSource(
  path: string,
  transfer: 'smpte2084' | 'arib-std-b67',
  o: { seconds?: number; size?: string; keyint?: number; fps?: number } = {},
): string {
  const x265 = [
    'log-level=error',
    ...(o.keyint ? [`keyint=${o.keyint}`, `min-keyint=${o.keyint}`, 'scenecut=0'] : []),
    ...(transfer === 'smpte2084' ? [`master-display=${MASTER}`, 'max-cll=1000,400'] : []),
  ];
  run(FFMPEG, [
    ...['-hide_banner', '-nostdin', '-v', 'error', '-y'],
    ...['-f', 'lavfi', '-i', `testsrc2=size=${o.size ?? '320x180'}:rate=${o.fps ?? 24}:duration=${o.seconds ?? 1}`],
    ...['-vf', 'format=yuv420p10le', '-c:v', 'libx265', '-x265-params', x265.join(':')],
    ...['-color_primaries', 'bt2020', '-color_trc', transfer, '-colorspace', 'bt2020nc', '-color_range', 'tv'],
    path,
  ]);
  return path;
}

export interface SideData {
  side_data_type: string;
  [k: string]: string | number;
}
export interface VideoStream {
  profile?: string;
  pix_fmt: string;
  color_range?: string;
  color_space?: string;
  color_transfer?: string;
  color_primaries?: string;
  side_data_list?: SideData[];
}

export function videoStream(path: string): VideoStream {
  const out = run(FFPROBE, ['-v', 'error', '-select_streams', 'v:0', '-show_streams', '-of', 'json', path]);
  return (JSON.parse(out) as { streams: VideoStream[] }).streams[0]!;
}

/** The side data of the first video frame (at or after `at` seconds: a chunk's first, for AV1's OBUs). */
export function firstFrameSideData(path: string, at?: number): SideData[] {
  const out = run(FFPROBE, [
    ...['-v', 'error', '-select_streams', 'v:0', '-show_frames', '-read_intervals', `${at ?? ''}%+#1`],
    ...['-show_entries', 'frame=side_data_list', '-of', 'json', path],
  ]);
  return (JSON.parse(out) as { frames: Array<{ side_data_list?: SideData[] }> }).frames[0]?.side_data_list ?? [];
}

/** The side data of the first video frame at or after each of `at` (seconds), in one ffprobe run. */
export function firstFramesSideData(path: string, at: readonly number[]): SideData[][] {
  const out = run(FFPROBE, [
    ...[
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_frames',
      '-read_intervals',
      at.map((t) => `${t}%+#1`).join(','),
    ],
    ...['-show_entries', 'frame=side_data_list', '-of', 'json', path],
  ]);
  const frames = (JSON.parse(out) as { frames: Array<{ side_data_list?: SideData[] }> }).frames;
  assert.equal(frames.length, at.length, `a frame at each of ${at.join(', ')} s`);
  return frames.map((f) => f.side_data_list ?? []);
}

const ratio = (s: string | number) => {
  const [n, d] = String(s).split('/').map(Number);
  return n! / (d ?? 1);
};

/** ffprobe's mastering display entry equals the source's, within `tolerance` (the format's step). */
export function assertMastering(list: SideData[], tolerance: number, where: string): void {
  const m = list.find((d) => /mastering display/i.test(d.side_data_type));
  assert.ok(m, `${where}: no mastering display in ${JSON.stringify(list)}`);
  const got = [
    ...['red_x', 'red_y', 'green_x', 'green_y', 'blue_x', 'blue_y', 'white_point_x', 'white_point_y'],
    ...['max_luminance', 'min_luminance'],
  ].map((k) => ratio(m[k]!));
  const e = EXPECTED_MASTERING;
  const want = [...e.red, ...e.green, ...e.blue, ...e.whitePoint, e.maxLuminance, e.minLuminance];
  for (const [i, w] of want.entries())
    assert.ok(Math.abs(got[i]! - w) <= tolerance * Math.max(1, w), `${where}: value ${i} is ${got[i]}, not ${w}`);
  const c = list.find((d) => /content light/i.test(d.side_data_type));
  assert.ok(c, `${where}: no content light`);
  assert.deepEqual([c.max_content, c.max_average], [1000, 400], where);
}

/** A preset at its fastest, not measured (what is tested here is the picture format). */
export function fast(name: string, video: Partial<NonNullable<ResolvedPreset['video']>> = {}): ResolvedPreset {
  const p = getPreset(name);
  const speed = p.video?.codec === 'av1' ? 12 : 8;
  return { ...p, video: { ...p.video!, speed, tuning: undefined, ...video }, quality: { measure: false } };
}
