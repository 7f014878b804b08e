// HDR: what a source carries (found from ffprobe's stream and first-frame side data) and the
// ffmpeg arguments that keep it (10 bits, tags, SVT-AV1's static metadata) or tone-map it to SDR.
// Pure: probe.ts runs ffprobe, compile.ts places the arguments, webm-hdr.ts writes the container.
// Static metadata (mastering display, content light) is carried; dynamic metadata (Dolby Vision
// RPUs, HDR10+ SMPTE 2094-40) is found and named in notCarried, since no encoder here writes it.
import * as z from 'zod';
import type { ContentLight, HdrInfo, MasteringDisplay, OutputHdr, VideoStreamInfo } from './types.js';

export type { OutputHdr };

/** ffprobe's color_transfer names for the HDR transfers. */
const TRANSFERS: Record<string, HdrInfo['transfer']> = { smpte2084: 'pq', 'arib-std-b67': 'hlg' };

export function hdrTransfer(colorTransfer: string | undefined): HdrInfo['transfer'] | undefined {
  return colorTransfer ? TRANSFERS[colorTransfer] : undefined;
}

/** ffprobe arguments that list the side data of the first frame of stream `index` (one frame is
 * decoded: HEVC and AV1 carry the mastering display in SEI/OBUs, not in the container). */
export function firstFrameSideDataArgs(index: number, input: string): string[] {
  return [
    '-select_streams',
    String(index),
    '-show_frames',
    '-read_intervals',
    '%+#1',
    '-show_entries',
    'frame=side_data_list',
    '-of',
    'json',
    input,
  ];
}

const sideData = z.looseObject({
  side_data_type: z.string().optional(),
  red_x: z.string().optional(),
  red_y: z.string().optional(),
  green_x: z.string().optional(),
  green_y: z.string().optional(),
  blue_x: z.string().optional(),
  blue_y: z.string().optional(),
  white_point_x: z.string().optional(),
  white_point_y: z.string().optional(),
  max_luminance: z.string().optional(),
  min_luminance: z.string().optional(),
  max_content: z.number().optional(),
  max_average: z.number().optional(),
});
type SideData = z.infer<typeof sideData>;
const sideDataList = z.array(sideData);
const framesJson = z.looseObject({ frames: z.array(z.looseObject({ side_data_list: sideDataList.optional() })) });

/** "34000/50000" -> 0.68; undefined for anything else. */
function rational(s: string | undefined): number | undefined {
  const m = /^(-?\d+(?:\.\d+)?)(?:\/(\d+))?$/.exec(s ?? '');
  if (!m) return undefined;
  const v = Number(m[1]) / (m[2] ? Number(m[2]) : 1);
  return Number.isFinite(v) ? v : undefined;
}

function masteringOf(d: SideData): MasteringDisplay | undefined {
  const v = [
    d.red_x,
    d.red_y,
    d.green_x,
    d.green_y,
    d.blue_x,
    d.blue_y,
    d.white_point_x,
    d.white_point_y,
    d.max_luminance,
    d.min_luminance,
  ].map(rational);
  if (v.some((x) => x === undefined)) return undefined;
  const n = v as number[];
  // ffprobe prints a side data entry with a zero max luminance when the SEI gave none.
  if (!(n[8]! > 0)) return undefined;
  return {
    red: [n[0]!, n[1]!],
    green: [n[2]!, n[3]!],
    blue: [n[4]!, n[5]!],
    whitePoint: [n[6]!, n[7]!],
    maxLuminance: n[8]!,
    minLuminance: n[9]!,
  };
}

const DYNAMIC: Array<[RegExp, string]> = [
  [/dolby vision|dovi/i, 'Dolby Vision'],
  [/2094-40|hdr10\+/i, 'HDR10+'],
];

/** The HDR a video stream carries, from its stream side data (as ffprobe's -show_streams gave
 * it) and its first frame's (ffprobe's JSON of firstFrameSideDataArgs); undefined for SDR. */
export function hdrOf(video: VideoStreamInfo, streamSideData: unknown, firstFrameJson: string): HdrInfo | undefined {
  const transfer = hdrTransfer(video.colorTransfer);
  if (!transfer) return undefined;
  let frame: SideData[] = [];
  try {
    const parsed = framesJson.safeParse(JSON.parse(firstFrameJson));
    if (parsed.success) frame = parsed.data.frames[0]?.side_data_list ?? [];
  } catch {
    frame = [];
  }
  const stream = sideDataList.safeParse(streamSideData ?? []);
  // The stream's (container) entries first: they describe the whole stream.
  const all = [...(stream.success ? stream.data : []), ...frame];
  let masteringDisplay: MasteringDisplay | undefined;
  let contentLight: ContentLight | undefined;
  const notCarried = new Set<string>();
  for (const d of all) {
    const type = d.side_data_type ?? '';
    if (!masteringDisplay && /mastering display/i.test(type)) masteringDisplay = masteringOf(d);
    if (!contentLight && /content light/i.test(type) && d.max_content !== undefined && d.max_average !== undefined)
      contentLight = { maxCll: d.max_content, maxFall: d.max_average };
    for (const [re, name] of DYNAMIC) if (re.test(type)) notCarried.add(name);
  }
  return {
    transfer,
    ...(masteringDisplay ? { masteringDisplay } : {}),
    ...(contentLight ? { contentLight } : {}),
    notCarried: [...notCarried],
  };
}

/** Codecs nommer encodes in 10 bits, which an HDR picture needs (8-bit PQ bands). */
export function carriesHdr(codec: string): boolean {
  return codec === 'vp9' || codec === 'av1';
}

export function outputHdr(hdr: HdrInfo, mode: OutputHdr['mode']): OutputHdr {
  const kept = mode === 'kept';
  return {
    source: hdr.transfer,
    mode,
    transfer: kept ? hdr.transfer : 'bt709',
    bitDepth: kept ? 10 : 8,
    masteringDisplay: kept && Boolean(hdr.masteringDisplay),
    contentLight: kept && Boolean(hdr.contentLight),
    ...(hdr.notCarried.length ? { notCarried: hdr.notCarried } : {}),
  };
}

/** One line for the CLI and logs when an output cannot carry all of its source's HDR. */
export function hdrWarning(hdr: OutputHdr): string | undefined {
  const parts: string[] = [];
  if (hdr.notCarried?.length) parts.push(`${hdr.notCarried.join(' and ')} dynamic metadata is not carried`);
  if (hdr.mode === 'tonemapped') parts.push(`tone-mapped from ${hdr.source.toUpperCase()} to 8-bit BT.709 SDR`);
  return parts.length ? `HDR source: ${parts.join('; ')}` : undefined;
}

const fixed = (n: number, digits: number) => String(Number(n.toFixed(digits)));

/** SVT-AV1's parameters for the static metadata (written into the AV1 bitstream as metadata
 * OBUs): `mastering-display=G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)` and `content-light=cll,fall`. */
export function svtAv1HdrParams(hdr: HdrInfo): string[] {
  const out: string[] = [];
  const m = hdr.masteringDisplay;
  if (m) {
    const xy = (p: [number, number]) => `(${fixed(p[0], 5)},${fixed(p[1], 5)})`;
    out.push(
      `mastering-display=G${xy(m.green)}B${xy(m.blue)}R${xy(m.red)}WP${xy(m.whitePoint)}L(${fixed(m.maxLuminance, 4)},${fixed(m.minLuminance, 5)})`,
    );
  }
  const c = hdr.contentLight;
  if (c) out.push(`content-light=${Math.round(c.maxCll)},${Math.round(c.maxFall)}`);
  return out;
}

/** zscale names of the source's transfer and matrix (ffprobe's names, mostly the same). */
const ZSCALE_MATRIX: Record<string, string> = { bt2020nc: '2020_ncl', bt2020c: '2020_cl', bt709: '709' };

/**
 * Tone-mapping of an HDR source to 8-bit BT.709 SDR: linear light from the source's transfer,
 * BT.2020 -> BT.709 primaries in float, Hable's curve, then BT.709's transfer and matrix. The
 * input's transfer, primaries and matrix are given, not read from frame tags a source may lack.
 */
export function tonemapFilters(src: VideoStreamInfo, hdr: HdrInfo): string[] {
  const tin = hdr.transfer === 'pq' ? 'smpte2084' : 'arib-std-b67';
  const min = ZSCALE_MATRIX[src.colorSpace ?? ''] ?? '2020_ncl';
  const rin = src.colorRange === 'pc' ? 'full' : 'limited';
  return [
    `zscale=tin=${tin}:min=${min}:pin=2020:rin=${rin}:t=linear:npl=100`,
    'format=gbrpf32le',
    'zscale=p=709',
    'tonemap=tonemap=hable:desat=0',
    'zscale=t=709:m=709:r=limited',
    'format=yuv420p',
  ];
}
