// The planner's probe: every video frame's presentation time and which are keyframes, plus the
// container's start time. From packets when they all carry a pts (MP4, MKV, WebM, MOV, TS: no
// decoding, seconds for a film); otherwise (AVI: packets carry decode order only, and decoding
// keyframes alone gives wrong times when there are B-frames) by decoding every frame, which is
// exact but costs a full decode.
import { NommerError } from '../errors.js';
import { ffmpegInputArg, ffprobeEntries, keptFfprobeText, parseFfprobeJson, parseRate } from '../ffmpeg/probe.js';
import type { FrameTimeline } from './plan.js';

export interface SourceTimeline {
  timeline: FrameTimeline;
  hasAudio: boolean;
  /** How the times were found. */
  method: 'packets' | 'frames';
}

/** `key=value|key=value` lines (ffprobe -of compact=p=0) as records. */
export function parseCompact(text: string): Array<Record<string, string>> {
  return text
    .split('\n')
    .filter((l) => l.includes('='))
    .map((l) =>
      Object.fromEntries(
        l
          .trim()
          .split('|')
          .map((kv) => {
            const i = kv.indexOf('=');
            return [kv.slice(0, i), kv.slice(i + 1)];
          }),
      ),
    );
}

/** Presentation-ordered times and keyframe indices from (time, key) pairs in any order. */
export function timelineFrom(
  entries: Array<{ time: number; key: boolean }>,
): { times: number[]; keyframes: number[] } | null {
  const sorted = [...entries].sort((a, b) => a.time - b.time);
  for (let i = 1; i < sorted.length; i++) if (!(sorted[i]!.time > sorted[i - 1]!.time)) return null;
  return { times: sorted.map((e) => e.time), keyframes: sorted.flatMap((e, i) => (e.key ? [i] : [])) };
}

/**
 * Frames the decoder flushes at the end of an AVI come without a timestamp: they follow the last
 * timed frame at the frame rate (and are never cut points). A missing time elsewhere: null.
 */
export function withTrailingTimes(
  entries: Array<{ time: number; key: boolean }>,
  fps: number,
): Array<{ time: number; key: boolean }> | null {
  let lastTimed = entries.length - 1;
  while (lastTimed >= 0 && !Number.isFinite(entries[lastTimed]!.time)) lastTimed--;
  if (lastTimed < 0 || entries.slice(0, lastTimed).some((e) => !Number.isFinite(e.time))) return null;
  return entries.map((e, i) =>
    i <= lastTimed ? e : { time: entries[lastTimed]!.time + (i - lastTimed) / fps, key: false },
  );
}

const num = (s: string | undefined) => (s === undefined || s === 'N/A' || s === '' ? NaN : Number(s));

export async function probeTimeline(
  bin: string,
  input: string,
  opts: { signal?: AbortSignal } = {},
): Promise<SourceTimeline> {
  const arg = ffmpegInputArg(input);
  // Each probe is kept for this very file (probe-cache.ts): the scene task and a re-plan list the
  // packets that the planner listed.
  const ffprobe = (args: string[], signal?: AbortSignal) => keptFfprobeText(bin, input, args, signal);
  const info = parseFfprobeJson(
    ffprobeEntries,
    await ffprobe(
      [
        '-print_format',
        'json',
        '-show_entries',
        'format=start_time:stream=codec_type,avg_frame_rate,r_frame_rate:stream_disposition=attached_pic',
        arg,
      ],
      opts.signal,
    ),
  );
  const streams = info?.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  if (!video) throw new NommerError('INPUT_NO_STREAMS', `${input} has no video stream to chunk`);
  const hasAudio = streams.some((s) => s.codec_type === 'audio');
  const formatStart = Number.isFinite(num(info?.format?.start_time)) ? num(info?.format?.start_time) : 0;

  let method: SourceTimeline['method'] = 'packets';
  const packets = parseCompact(
    await ffprobe(
      ['-select_streams', 'V:0', '-show_entries', 'packet=pts_time,flags', '-of', 'compact=p=0', arg],
      opts.signal,
    ),
  ).filter((p) => !(p.flags ?? '').includes('D'));
  let tl = packets.every((p) => Number.isFinite(num(p.pts_time)))
    ? timelineFrom(packets.map((p) => ({ time: num(p.pts_time), key: (p.flags ?? '').includes('K') })))
    : null;
  const rate = parseRate(video.avg_frame_rate) || parseRate(video.r_frame_rate);
  if (!tl) {
    method = 'frames';
    const frames = parseCompact(
      await ffprobe(
        [
          '-select_streams',
          'V:0',
          '-show_entries',
          'frame=best_effort_timestamp_time,key_frame',
          '-of',
          'compact=p=0',
          arg,
        ],
        opts.signal,
      ),
    );
    const entries = withTrailingTimes(
      frames.map((f) => ({ time: num(f.best_effort_timestamp_time), key: f.key_frame === '1' })),
      rate || 25,
    );
    if (!entries)
      throw new NommerError('INPUT_UNDECODABLE', `${input} has video frames without timestamps; it cannot be chunked`, {
        hint: 'submit it with chunking off',
      });
    tl = timelineFrom(entries);
    if (!tl)
      throw new NommerError(
        'INPUT_UNDECODABLE',
        `${input} has video frames with repeated timestamps; it cannot be chunked`,
        { hint: 'submit it with chunking off' },
      );
  }
  if (tl.times.length === 0) throw new NommerError('INPUT_NO_STREAMS', `${input} has no video frames`);
  const span = tl.times[tl.times.length - 1]! - tl.times[0]!;
  const fps = rate || (span > 0 ? (tl.times.length - 1) / span : 25);
  return { timeline: { ...tl, formatStart, fps }, hasAudio, method };
}
