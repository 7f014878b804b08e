// Pins the exact ffmpeg argv of every built-in preset, of two-pass presets and of video chunks
// (with and without a seek), so a change in how commands are put together cannot change what
// ffmpeg is asked to do. The pins were captured from the compiler and chunk builder as they were
// at 8d8b7a1 (before commands were built whole); a difference here is a behaviour change to
// justify, not a snapshot to refresh. No ffmpeg runs here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { videoChunkCommand } from '../src/chunked/encode-chunk.js';
import type { VideoChunkParams } from '../src/chunked/tasks.js';
import { NommerError } from '../src/errors.js';
import type { ProbeInfo } from '../src/ffmpeg/types.js';
import { compileJob } from '../src/presets/compile.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { getPreset } from '../src/presets/registry.js';
import type { ResolvedPreset } from '../src/presets/schema.js';
import { ALL_ENCODERS, audio, probeOf, video } from './helpers/probe-info.js';

const BUILTINS = ['av1', 'ogg', 'opus', 'poster', 'webm', 'webm-2pass', 'webm-vp8'];

// ---- the cases -------------------------------------------------------------------------------

const SOURCES: Record<string, ProbeInfo> = {
  /** 1080p30 H.264 + stereo AAC: the common case. */
  hd: probeOf(video(), audio()),
  /** 4K progressive: every video preset scales it down. */
  uhd: probeOf(video({ width: 3840, height: 2160 }), audio(), 30),
  /** 720p, already at the size every preset keeps: no -vf at all. */
  small: probeOf(video({ width: 1280, height: 720 }), audio(), 20),
  /** Everything at once: 4K shown portrait, interlaced, VFR, 10-bit HDR, 5.1 at 44.1 kHz, odd stream indexes. */
  hard: probeOf(video({
    index: 1, width: 3840, height: 2160, displayWidth: 2160, displayHeight: 3840, rotation: 90, interlaced: true, fieldOrder: 'tt',
    vfr: true, fps: 23.5, rFrameRate: '24000/1001', avgFrameRate: '47/2', pixFmt: 'yuv420p10le', bitDepth: 10,
    colorPrimaries: 'bt2020', colorTransfer: 'smpte2084', colorSpace: 'bt2020nc', colorRange: 'tv',
  }), audio({ index: 3, channels: 6, channelLayout: '5.1(side)', sampleRate: 44100 }), 61.7),
  /** Odd size, full-range JPEG pixels, no usable frame rate, no audio. */
  odd: probeOf(video({ width: 321, height: 241, pixFmt: 'yuvj420p', colorRange: 'pc', fps: 0, rFrameRate: '0/0', avgFrameRate: '0/0' }), undefined, 3),
  /** Mono audio only. */
  mono: probeOf(undefined, audio({ index: 0, channels: 1, channelLayout: 'mono', sampleRate: 22050 }), 5),
};

type Pinned = Array<[label: string, weight: number, args: string[]]> | { error: string };

function job(presets: Array<string | ResolvedPreset>, source: string, o: { encoders?: ReadonlySet<string>; threads?: number; path?: (i: number) => string } = {}): Pinned {
  try {
    return compileJob({
      input: 'file:/in/clip.mp4',
      probe: SOURCES[source]!,
      outputs: presets.map((p, i) => ({ preset: typeof p === 'string' ? getPreset(p) : p, path: o.path?.(i) ?? `/out/o${i}` })),
      encoders: o.encoders ?? ALL_ENCODERS,
      passlogDir: '/tmp/passlog',
      ...(o.threads ? { threads: o.threads } : {}),
    }).commands.map((c) => [c.label, c.weight, c.args]);
  } catch (err) {
    if (err instanceof NommerError) return { error: err.code };
    throw err;
  }
}

const JOBS: Record<string, () => Pinned> = {};
for (const name of BUILTINS) for (const source of Object.keys(SOURCES)) JOBS[`${name} on ${source}`] = () => job([name], source);
Object.assign(JOBS, {
  'every built-in in one job': () => job(BUILTINS, 'hd'),
  'every built-in in one job, hard source, 3 threads': () => job(BUILTINS, 'hard', { threads: 3 }),
  'av1 with libaom only': () => job(['av1'], 'hd', { encoders: new Set(['libaom-av1', 'libopus']) }),
  'av1 with libaom only, hard source': () => job(['av1'], 'hard', { encoders: new Set(['libaom-av1', 'libopus']) }),
  'two webm-2pass outputs and a webm, 2 threads': () => job(['webm-2pass', 'webm', 'webm-2pass'], 'small', { threads: 2 }),
  'two-pass VP8 (-cpu-used in pass 1)': () => job([applyOverrides(getPreset('webm-vp8'), ['video.passes=2', 'video.firstPassSpeed=3'])], 'hd'),
  'two-pass VP8, hard source': () => job([applyOverrides(getPreset('webm-vp8'), ['video.passes=2'])], 'hard'),
  'relative output paths': () => job(['webm', 'webm-2pass', 'poster'], 'hd', { path: (i) => ['-y.webm', 'pipe:1', 'x.webp'][i]! }),
});

interface ChunkCase { preset: string | ResolvedPreset; source: string; chunk: Pick<VideoChunkParams, 'seek' | 'selectStart' | 'selectEnd'>; fromStart?: boolean; encoders?: ReadonlySet<string>; input?: string }
const mid = { seek: 3.98, selectStart: 5.98, selectEnd: 9.98 };
const first = { seek: null, selectStart: -0.02, selectEnd: 3.98 };
const last = { seek: 7.98, selectStart: 9.98, selectEnd: null };
const CHUNKS: Record<string, ChunkCase> = {
  'webm chunk with seek, scaled': { preset: 'webm', source: 'uhd', chunk: mid },
  'webm chunk with seek, decoded from the start': { preset: 'webm', source: 'uhd', chunk: mid, fromStart: true },
  'webm first chunk (no seek)': { preset: 'webm', source: 'hd', chunk: first },
  'webm last chunk (no end)': { preset: 'webm', source: 'hd', chunk: last },
  'webm chunk with seek, no preset filters': { preset: 'webm', source: 'small', chunk: mid },
  'webm first chunk, no preset filters': { preset: 'webm', source: 'small', chunk: first },
  'webm chunk with seek, hard source': { preset: 'webm', source: 'hard', chunk: mid },
  'webm chunk of an http input': { preset: 'webm', source: 'hd', chunk: last, input: 'https://media.example/in.mp4?sig=a%20b' },
  'av1 chunk with seek (SVT, no preset filters)': { preset: 'av1', source: 'small', chunk: mid },
  'av1 first chunk (SVT)': { preset: 'av1', source: 'small', chunk: first },
  'av1 chunk with seek, decoded from the start (SVT)': { preset: 'av1', source: 'small', chunk: mid, fromStart: true },
  'av1 chunk with seek (libaom), hard source': { preset: 'av1', source: 'hard', chunk: mid, encoders: new Set(['libaom-av1']) },
};

/** A chunk's command as the chunk encoder builds it: the job's preset, video only, into the chunk file. */
function chunkCommand(c: ChunkCase): string[] {
  const src = { input: c.input ?? 'file:/in/clip.mp4', probe: SOURCES[c.source]!, preset: typeof c.preset === 'string' ? getPreset(c.preset) : c.preset, dest: '/scratch/chunk-001.webm', encoders: c.encoders ?? ALL_ENCODERS };
  return videoChunkCommand(src, c.chunk, { fromStart: c.fromStart });
}

describe('pinned ffmpeg commands', () => {
  it('every case has a pin and every pin a case', () => {
    assert.deepEqual(Object.keys(JOBS).sort(), Object.keys(PINNED_JOBS).sort());
    assert.deepEqual(Object.keys(CHUNKS).sort(), Object.keys(PINNED_CHUNKS).sort());
  });
  for (const [name, make] of Object.entries(JOBS)) {
    it(`${name}: the same commands, labels and weights as before`, () => assert.deepEqual(make(), PINNED_JOBS[name]));
  }
  for (const [name, c] of Object.entries(CHUNKS)) {
    it(`${name}: the same chunk command as before`, () => assert.deepEqual(chunkCommand(c), PINNED_CHUNKS[name]));
  }
});

// ---- the pins (captured at 8d8b7a1; do not regenerate) ---------------------------------------

const PINNED_JOBS: Record<string, Pinned> = {
  'av1 on hd': [
    ['av1', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libsvtav1', '-pix_fmt', 'yuv420p', '-crf', '35', '-preset', '8', '-svtav1-params', 'keyint=120:mbr=1827', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', '/out/o0']],
  ],
  'av1 on uhd': [
    ['av1', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libsvtav1', '-vf', 'scale=1920:1080,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '35', '-preset', '8', '-svtav1-params', 'keyint=120:mbr=1827', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', '/out/o0']],
  ],
  'av1 on small': [
    ['av1', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libsvtav1', '-pix_fmt', 'yuv420p', '-crf', '35', '-preset', '8', '-svtav1-params', 'keyint=120:mbr=1040', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', '/out/o0']],
  ],
  'av1 on hard': [
    ['av1', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libsvtav1', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p10le', '-crf', '35', '-preset', '8', '-svtav1-params', 'keyint=94:mbr=1827', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-map', '0:3', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=5.1', '-b:a', '256k', '-vbr', 'on', '-mapping_family', '1', '-f', 'webm', '/out/o0']],
  ],
  'av1 on odd': [
    ['av1', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libsvtav1', '-vf', 'scale=320:240,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '35', '-preset', '8', '-svtav1-params', 'keyint=120:mbr=153', '-color_range', 'tv', '-f', 'webm', '/out/o0']],
  ],
  'av1 on mono': { error: 'INPUT_NO_STREAMS' },
  'ogg on hd': [
    ['ogg', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libtheora', '-pix_fmt', 'yuv420p', '-b:v', '3600k', '-g', '120', '-map', '0:1', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=stereo', '-b:a', '160k', '-f', 'ogg', '/out/o0']],
  ],
  'ogg on uhd': [
    ['ogg', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libtheora', '-vf', 'scale=1920:1080,setsar=1', '-pix_fmt', 'yuv420p', '-b:v', '3600k', '-g', '120', '-map', '0:1', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=stereo', '-b:a', '160k', '-f', 'ogg', '/out/o0']],
  ],
  'ogg on small': [
    ['ogg', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libtheora', '-pix_fmt', 'yuv420p', '-b:v', '2000k', '-g', '120', '-map', '0:1', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=stereo', '-b:a', '160k', '-f', 'ogg', '/out/o0']],
  ],
  'ogg on hard': [
    ['ogg', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libtheora', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-b:v', '3600k', '-g', '94', '-fps_mode', 'cfr', '-r', '47/2', '-map', '0:3', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=5.1', '-b:a', '320k', '-f', 'ogg', '/out/o0']],
  ],
  'ogg on odd': [
    ['ogg', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libtheora', '-vf', 'scale=320:240,setsar=1', '-pix_fmt', 'yuv420p', '-b:v', '320k', '-g', '120', '-f', 'ogg', '/out/o0']],
  ],
  'ogg on mono': { error: 'INPUT_NO_STREAMS' },
  'opus on hd': [
    ['opus', 0.1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'opus', '/out/o0']],
  ],
  'opus on uhd': [
    ['opus', 0.1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'opus', '/out/o0']],
  ],
  'opus on small': [
    ['opus', 0.1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'opus', '/out/o0']],
  ],
  'opus on hard': [
    ['opus', 0.1, ['-i', 'file:/in/clip.mp4', '-map', '0:3', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=5.1', '-b:a', '256k', '-vbr', 'on', '-mapping_family', '1', '-f', 'opus', '/out/o0']],
  ],
  'opus on odd': { error: 'INPUT_NO_STREAMS' },
  'opus on mono': [
    ['opus', 0.1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=mono', '-b:a', '64k', '-vbr', 'on', '-f', 'opus', '/out/o0']],
  ],
  'poster on hd': [
    ['poster (still at 1.0 s)', 0.05, ['-ss', '1.000', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libwebp', '-pix_fmt', 'yuv420p', '-quality', '80', '-compression_level', '4', '-frames:v', '1', '-f', 'webp', '/out/o0']],
  ],
  'poster on uhd': [
    ['poster (still at 3.0 s)', 0.05, ['-ss', '3.000', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libwebp', '-vf', 'scale=1920:1080,setsar=1', '-pix_fmt', 'yuv420p', '-quality', '80', '-compression_level', '4', '-frames:v', '1', '-f', 'webp', '/out/o0']],
  ],
  'poster on small': [
    ['poster (still at 2.0 s)', 0.05, ['-ss', '2.000', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libwebp', '-pix_fmt', 'yuv420p', '-quality', '80', '-compression_level', '4', '-frames:v', '1', '-f', 'webp', '/out/o0']],
  ],
  'poster on hard': [
    ['poster (still at 6.2 s)', 0.05, ['-ss', '6.170', '-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libwebp', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-quality', '80', '-compression_level', '4', '-frames:v', '1', '-f', 'webp', '/out/o0']],
  ],
  'poster on odd': [
    ['poster (still at 0.3 s)', 0.05, ['-ss', '0.300', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libwebp', '-vf', 'scale=320:240,setsar=1', '-pix_fmt', 'yuv420p', '-quality', '80', '-compression_level', '4', '-frames:v', '1', '-f', 'webp', '/out/o0']],
  ],
  'poster on mono': { error: 'INPUT_NO_STREAMS' },
  'webm on hd': [
    ['webm', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', '/out/o0']],
  ],
  'webm on uhd': [
    ['webm', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'scale=1920:1080,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', '/out/o0']],
  ],
  'webm on small': [
    ['webm', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '32', '-b:v', '1024k', '-minrate', '512k', '-maxrate', '1485k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', '/out/o0']],
  ],
  'webm on hard': [
    ['webm', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libvpx-vp9', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '94', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-map', '0:3', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=5.1', '-b:a', '256k', '-vbr', 'on', '-mapping_family', '1', '-f', 'webm', '/out/o0']],
  ],
  'webm on odd': [
    ['webm', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'scale=320:240,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '37', '-b:v', '150k', '-minrate', '75k', '-maxrate', '218k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '0', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-color_range', 'tv', '-f', 'webm', '/out/o0']],
  ],
  'webm on mono': { error: 'INPUT_NO_STREAMS' },
  'webm-2pass on hd': [
    ['webm-2pass pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '4', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-pass', '1', '-passlogfile', '/tmp/passlog/0', '-an', '-f', 'null', '/dev/null']],
    ['webm-2pass pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-pass', '2', '-passlogfile', '/tmp/passlog/0', '-f', 'webm', '/out/o0']],
  ],
  'webm-2pass on uhd': [
    ['webm-2pass pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'scale=1920:1080,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '4', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-pass', '1', '-passlogfile', '/tmp/passlog/0', '-an', '-f', 'null', '/dev/null']],
    ['webm-2pass pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'scale=1920:1080,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-pass', '2', '-passlogfile', '/tmp/passlog/0', '-f', 'webm', '/out/o0']],
  ],
  'webm-2pass on small': [
    ['webm-2pass pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '32', '-b:v', '1024k', '-minrate', '512k', '-maxrate', '1485k', '-quality', 'good', '-speed', '4', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-pass', '1', '-passlogfile', '/tmp/passlog/0', '-an', '-f', 'null', '/dev/null']],
    ['webm-2pass pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '32', '-b:v', '1024k', '-minrate', '512k', '-maxrate', '1485k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-pass', '2', '-passlogfile', '/tmp/passlog/0', '-f', 'webm', '/out/o0']],
  ],
  'webm-2pass on hard': [
    ['webm-2pass pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libvpx-vp9', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '4', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '94', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-pass', '1', '-passlogfile', '/tmp/passlog/0', '-an', '-f', 'null', '/dev/null']],
    ['webm-2pass pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libvpx-vp9', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '94', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-map', '0:3', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=5.1', '-b:a', '256k', '-vbr', 'on', '-mapping_family', '1', '-pass', '2', '-passlogfile', '/tmp/passlog/0', '-f', 'webm', '/out/o0']],
  ],
  'webm-2pass on odd': [
    ['webm-2pass pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'scale=320:240,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '37', '-b:v', '150k', '-minrate', '75k', '-maxrate', '218k', '-quality', 'good', '-speed', '4', '-row-mt', '1', '-tile-columns', '0', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-color_range', 'tv', '-pass', '1', '-passlogfile', '/tmp/passlog/0', '-an', '-f', 'null', '/dev/null']],
    ['webm-2pass pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'scale=320:240,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '37', '-b:v', '150k', '-minrate', '75k', '-maxrate', '218k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '0', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-color_range', 'tv', '-pass', '2', '-passlogfile', '/tmp/passlog/0', '-f', 'webm', '/out/o0']],
  ],
  'webm-2pass on mono': { error: 'INPUT_NO_STREAMS' },
  'webm-vp8 on hd': [
    ['webm-vp8', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '2700k', '-minrate', '1350k', '-maxrate', '3915k', '-quality', 'good', '-cpu-used', '1', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '120', '-map', '0:1', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=stereo', '-b:a', '160k', '-f', 'webm', '/out/o0']],
  ],
  'webm-vp8 on uhd': [
    ['webm-vp8', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx', '-vf', 'scale=1920:1080,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '2700k', '-minrate', '1350k', '-maxrate', '3915k', '-quality', 'good', '-cpu-used', '1', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '120', '-map', '0:1', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=stereo', '-b:a', '160k', '-f', 'webm', '/out/o0']],
  ],
  'webm-vp8 on small': [
    ['webm-vp8', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '1536k', '-minrate', '768k', '-maxrate', '2228k', '-quality', 'good', '-cpu-used', '1', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '120', '-map', '0:1', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=stereo', '-b:a', '160k', '-f', 'webm', '/out/o0']],
  ],
  'webm-vp8 on hard': [
    ['webm-vp8', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libvpx', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '2700k', '-minrate', '1350k', '-maxrate', '3915k', '-quality', 'good', '-cpu-used', '1', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '94', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-map', '0:3', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=5.1', '-b:a', '320k', '-f', 'webm', '/out/o0']],
  ],
  'webm-vp8 on odd': [
    ['webm-vp8', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx', '-vf', 'scale=320:240,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '225k', '-minrate', '113k', '-maxrate', '327k', '-quality', 'good', '-cpu-used', '1', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '120', '-color_range', 'tv', '-f', 'webm', '/out/o0']],
  ],
  'webm-vp8 on mono': { error: 'INPUT_NO_STREAMS' },
  'every built-in in one job': [
    ['poster (still at 1.0 s)', 0.05, ['-ss', '1.000', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libwebp', '-pix_fmt', 'yuv420p', '-quality', '80', '-compression_level', '4', '-frames:v', '1', '-f', 'webp', '/out/o3']],
    ['av1 + ogg + opus + webm + webm-vp8', 4.1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libsvtav1', '-pix_fmt', 'yuv420p', '-crf', '35', '-preset', '8', '-svtav1-params', 'keyint=120:mbr=1827', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', '/out/o0', '-map', '0:0', '-c:v', 'libtheora', '-pix_fmt', 'yuv420p', '-b:v', '3600k', '-g', '120', '-map', '0:1', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=stereo', '-b:a', '160k', '-f', 'ogg', '/out/o1', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'opus', '/out/o2', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', '/out/o4', '-map', '0:0', '-c:v', 'libvpx', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '2700k', '-minrate', '1350k', '-maxrate', '3915k', '-quality', 'good', '-cpu-used', '1', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '120', '-map', '0:1', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=stereo', '-b:a', '160k', '-f', 'webm', '/out/o6']],
    ['webm-2pass pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '4', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-pass', '1', '-passlogfile', '/tmp/passlog/5', '-an', '-f', 'null', '/dev/null']],
    ['webm-2pass pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-pass', '2', '-passlogfile', '/tmp/passlog/5', '-f', 'webm', '/out/o5']],
  ],
  'every built-in in one job, hard source, 3 threads': [
    ['poster (still at 6.2 s)', 0.05, ['-ss', '6.170', '-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libwebp', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-quality', '80', '-compression_level', '4', '-frames:v', '1', '-f', 'webp', '/out/o3']],
    ['av1 + ogg + opus + webm + webm-vp8', 4.1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libsvtav1', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p10le', '-crf', '35', '-preset', '8', '-svtav1-params', 'keyint=94:mbr=1827', '-threads', '3', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-map', '0:3', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=5.1', '-b:a', '256k', '-vbr', 'on', '-mapping_family', '1', '-f', 'webm', '/out/o0', '-map', '0:1', '-c:v', 'libtheora', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-b:v', '3600k', '-g', '94', '-threads', '3', '-fps_mode', 'cfr', '-r', '47/2', '-map', '0:3', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=5.1', '-b:a', '320k', '-f', 'ogg', '/out/o1', '-map', '0:3', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=5.1', '-b:a', '256k', '-vbr', 'on', '-mapping_family', '1', '-f', 'opus', '/out/o2', '-map', '0:1', '-c:v', 'libvpx-vp9', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '94', '-threads', '3', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-map', '0:3', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=5.1', '-b:a', '256k', '-vbr', 'on', '-mapping_family', '1', '-f', 'webm', '/out/o4', '-map', '0:1', '-c:v', 'libvpx', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '2700k', '-minrate', '1350k', '-maxrate', '3915k', '-quality', 'good', '-cpu-used', '1', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '94', '-threads', '3', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-map', '0:3', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=5.1', '-b:a', '320k', '-f', 'webm', '/out/o6']],
    ['webm-2pass pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libvpx-vp9', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '4', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '94', '-threads', '3', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-pass', '1', '-passlogfile', '/tmp/passlog/5', '-an', '-f', 'null', '/dev/null']],
    ['webm-2pass pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libvpx-vp9', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '94', '-threads', '3', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-map', '0:3', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=5.1', '-b:a', '256k', '-vbr', 'on', '-mapping_family', '1', '-pass', '2', '-passlogfile', '/tmp/passlog/5', '-f', 'webm', '/out/o5']],
  ],
  'av1 with libaom only': [
    ['av1', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libaom-av1', '-pix_fmt', 'yuv420p', '-crf', '34', '-b:v', '1827k', '-usage', 'good', '-cpu-used', '6', '-row-mt', '1', '-tiles', '4x1', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', '/out/o0']],
  ],
  'av1 with libaom only, hard source': [
    ['av1', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libaom-av1', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p10le', '-crf', '34', '-b:v', '1827k', '-usage', 'good', '-cpu-used', '6', '-row-mt', '1', '-tiles', '4x1', '-g', '94', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-map', '0:3', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=5.1', '-b:a', '256k', '-vbr', 'on', '-mapping_family', '1', '-f', 'webm', '/out/o0']],
  ],
  'two webm-2pass outputs and a webm, 2 threads': [
    ['webm', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '32', '-b:v', '1024k', '-minrate', '512k', '-maxrate', '1485k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-threads', '2', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', '/out/o1']],
    ['webm-2pass pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '32', '-b:v', '1024k', '-minrate', '512k', '-maxrate', '1485k', '-quality', 'good', '-speed', '4', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-threads', '2', '-pass', '1', '-passlogfile', '/tmp/passlog/0', '-an', '-f', 'null', '/dev/null']],
    ['webm-2pass pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '32', '-b:v', '1024k', '-minrate', '512k', '-maxrate', '1485k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-threads', '2', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-pass', '2', '-passlogfile', '/tmp/passlog/0', '-f', 'webm', '/out/o0']],
    ['webm-2pass pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '32', '-b:v', '1024k', '-minrate', '512k', '-maxrate', '1485k', '-quality', 'good', '-speed', '4', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-threads', '2', '-pass', '1', '-passlogfile', '/tmp/passlog/2', '-an', '-f', 'null', '/dev/null']],
    ['webm-2pass pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '32', '-b:v', '1024k', '-minrate', '512k', '-maxrate', '1485k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-threads', '2', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-pass', '2', '-passlogfile', '/tmp/passlog/2', '-f', 'webm', '/out/o2']],
  ],
  'two-pass VP8 (-cpu-used in pass 1)': [
    ['webm-vp8 pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '2700k', '-minrate', '1350k', '-maxrate', '3915k', '-quality', 'good', '-cpu-used', '3', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '120', '-pass', '1', '-passlogfile', '/tmp/passlog/0', '-an', '-f', 'null', '/dev/null']],
    ['webm-vp8 pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '2700k', '-minrate', '1350k', '-maxrate', '3915k', '-quality', 'good', '-cpu-used', '1', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '120', '-map', '0:1', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=stereo', '-b:a', '160k', '-pass', '2', '-passlogfile', '/tmp/passlog/0', '-f', 'webm', '/out/o0']],
  ],
  'two-pass VP8, hard source': [
    ['webm-vp8 pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libvpx', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '2700k', '-minrate', '1350k', '-maxrate', '3915k', '-quality', 'good', '-cpu-used', '4', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '94', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-pass', '1', '-passlogfile', '/tmp/passlog/0', '-an', '-f', 'null', '/dev/null']],
    ['webm-vp8 pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libvpx', '-vf', 'bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '10', '-b:v', '2700k', '-minrate', '1350k', '-maxrate', '3915k', '-quality', 'good', '-cpu-used', '1', '-auto-alt-ref', '1', '-lag-in-frames', '16', '-g', '94', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-map', '0:3', '-c:a', 'libvorbis', '-af', 'aformat=channel_layouts=5.1', '-b:a', '320k', '-pass', '2', '-passlogfile', '/tmp/passlog/0', '-f', 'webm', '/out/o0']],
  ],
  'relative output paths': [
    ['poster (still at 1.0 s)', 0.05, ['-ss', '1.000', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libwebp', '-pix_fmt', 'yuv420p', '-quality', '80', '-compression_level', '4', '-frames:v', '1', '-f', 'webp', 'file:x.webp']],
    ['webm', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-f', 'webm', 'file:-y.webm']],
    ['webm-2pass pass 1/2', 0.4, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '4', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-pass', '1', '-passlogfile', '/tmp/passlog/1', '-an', '-f', 'null', '/dev/null']],
    ['webm-2pass pass 2/2', 1, ['-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-map', '0:1', '-c:a', 'libopus', '-af', 'aformat=sample_rates=48000:channel_layouts=stereo', '-b:a', '128k', '-vbr', 'on', '-pass', '2', '-passlogfile', '/tmp/passlog/1', '-f', 'webm', 'file:pipe:1']],
  ],
};

const PINNED_CHUNKS: Record<string, string[]> = {
  'webm chunk with seek, scaled':
    ['-copyts', '-ss', '3.980000', '-noaccurate_seek', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'trim=start=5.980000:end=9.980000,setpts=PTS-STARTPTS,scale=1920:1080,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-f', 'webm', '/scratch/chunk-001.webm'],
  'webm chunk with seek, decoded from the start':
    ['-copyts', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'trim=start=5.980000:end=9.980000,setpts=PTS-STARTPTS,scale=1920:1080,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-f', 'webm', '/scratch/chunk-001.webm'],
  'webm first chunk (no seek)':
    ['-copyts', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'trim=start=-0.020000:end=3.980000,setpts=PTS-STARTPTS', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-f', 'webm', '/scratch/chunk-001.webm'],
  'webm last chunk (no end)':
    ['-copyts', '-ss', '7.980000', '-noaccurate_seek', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'trim=start=9.980000,setpts=PTS-STARTPTS', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-f', 'webm', '/scratch/chunk-001.webm'],
  'webm chunk with seek, no preset filters':
    ['-copyts', '-ss', '3.980000', '-noaccurate_seek', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'trim=start=5.980000:end=9.980000,setpts=PTS-STARTPTS', '-pix_fmt', 'yuv420p', '-crf', '32', '-b:v', '1024k', '-minrate', '512k', '-maxrate', '1485k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-f', 'webm', '/scratch/chunk-001.webm'],
  'webm first chunk, no preset filters':
    ['-copyts', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'trim=start=-0.020000:end=3.980000,setpts=PTS-STARTPTS', '-pix_fmt', 'yuv420p', '-crf', '32', '-b:v', '1024k', '-minrate', '512k', '-maxrate', '1485k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-f', 'webm', '/scratch/chunk-001.webm'],
  'webm chunk with seek, hard source':
    ['-copyts', '-ss', '3.980000', '-noaccurate_seek', '-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libvpx-vp9', '-vf', 'trim=start=5.980000:end=9.980000,setpts=PTS-STARTPTS,bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '94', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-f', 'webm', '/scratch/chunk-001.webm'],
  'webm chunk of an http input':
    ['-copyts', '-ss', '7.980000', '-noaccurate_seek', '-i', 'https://media.example/in.mp4?sig=a%20b', '-map', '0:0', '-c:v', 'libvpx-vp9', '-vf', 'trim=start=9.980000,setpts=PTS-STARTPTS', '-pix_fmt', 'yuv420p', '-crf', '31', '-b:v', '1800k', '-minrate', '900k', '-maxrate', '2610k', '-quality', 'good', '-speed', '2', '-row-mt', '1', '-tile-columns', '2', '-auto-alt-ref', '1', '-lag-in-frames', '25', '-g', '120', '-f', 'webm', '/scratch/chunk-001.webm'],
  'av1 chunk with seek (SVT, no preset filters)':
    ['-copyts', '-ss', '3.980000', '-noaccurate_seek', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libsvtav1', '-vf', 'trim=start=5.980000:end=9.980000,setpts=PTS-STARTPTS', '-pix_fmt', 'yuv420p', '-crf', '35', '-preset', '8', '-svtav1-params', 'keyint=120:mbr=1040', '-f', 'webm', '/scratch/chunk-001.webm'],
  'av1 first chunk (SVT)':
    ['-copyts', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libsvtav1', '-vf', 'trim=start=-0.020000:end=3.980000,setpts=PTS-STARTPTS', '-pix_fmt', 'yuv420p', '-crf', '35', '-preset', '8', '-svtav1-params', 'keyint=120:mbr=1040', '-f', 'webm', '/scratch/chunk-001.webm'],
  'av1 chunk with seek, decoded from the start (SVT)':
    ['-copyts', '-i', 'file:/in/clip.mp4', '-map', '0:0', '-c:v', 'libsvtav1', '-vf', 'trim=start=5.980000:end=9.980000,setpts=PTS-STARTPTS', '-pix_fmt', 'yuv420p', '-crf', '35', '-preset', '8', '-svtav1-params', 'keyint=120:mbr=1040', '-f', 'webm', '/scratch/chunk-001.webm'],
  'av1 chunk with seek (libaom), hard source':
    ['-copyts', '-ss', '3.980000', '-noaccurate_seek', '-i', 'file:/in/clip.mp4', '-map', '0:1', '-c:v', 'libaom-av1', '-vf', 'trim=start=5.980000:end=9.980000,setpts=PTS-STARTPTS,bwdif=mode=send_frame:parity=auto:deint=all,scale=1080:1920,setsar=1', '-pix_fmt', 'yuv420p10le', '-crf', '34', '-b:v', '1827k', '-usage', 'good', '-cpu-used', '6', '-row-mt', '1', '-tiles', '4x1', '-g', '94', '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-color_range', 'tv', '-fps_mode', 'passthrough', '-force_key_frames', 'expr:gte(t,n_forced*4)', '-f', 'webm', '/scratch/chunk-001.webm'],
};
