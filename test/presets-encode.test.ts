// Integration: compile presets for generated clips, run the commands with the real ffmpeg, and
// check the outputs with ffprobe as a user would: codecs, container, duration and frame count,
// keyframe spacing, bitrate ceilings, orientation, odd sizes, missing streams, VFR.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ffmpegInputArg, toProbeInfo } from '../src/ffmpeg/probe.js';
import { readWebmMedia } from '../src/ffmpeg/webm-media.js';
import type { ProbeInfo } from '../src/ffmpeg/types.js';
import { compileJob, type CompiledJob } from '../src/presets/compile.js';
import { getPreset } from '../src/presets/registry.js';
import { probeDecoded, type DecodedProbe } from './helpers/chunk-probe.js';
import { decodesCleanly, FFMPEG, keyframeTimes, makeClip, probe, tempDir, type Probed } from './helpers/media.js';

const ENCODERS = new Set([
  'libvpx-vp9',
  'libvpx',
  'libsvtav1',
  'libaom-av1',
  'libtheora',
  'libwebp',
  'libopus',
  'libvorbis',
]);
const dir = tempDir('nommer-presets-');
after(() => dir.cleanup());

function ffmpeg(args: string[]): string {
  const r = spawnSync(FFMPEG, ['-hide_banner', '-nostdin', '-v', 'error', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')}\n${r.stderr}`);
  return r.stderr;
}

/**
 * Each source is probed once (every source here has a name of its own and is never rewritten):
 * a test that asserts on its source and then encodes it, or encodes it again, reads the same probe.
 */
const probeInfos = new Map<string, ProbeInfo>();
function probeInfo(path: string): ProbeInfo {
  let info = probeInfos.get(path);
  if (!info) probeInfos.set(path, (info = toProbeInfo(probe(path))));
  return info;
}

let jobNo = 0;
/** Compile `presets` for `input` into the temp dir, run every command, return the compiled job. */
function encode(input: string, presets: string[], name = 'out'): CompiledJob & { paths: string[] } {
  const n = jobNo++;
  const paths = presets.map((p) => join(dir.path, `${name}-${n}-${p}.${getPreset(p).extension}`));
  const job = compileJob({
    input: ffmpegInputArg(input),
    probe: probeInfo(input),
    outputs: presets.map((p, i) => ({ preset: getPreset(p), path: paths[i]! })),
    encoders: ENCODERS,
    passlogDir: dir.path,
  });
  for (const c of job.commands) ffmpeg(c.args);
  return { ...job, paths };
}

const stream = (p: Probed, type: string) => p.streams.find((s) => s.codec_type === type);
const frames = (p: Probed) => Number(stream(p, 'video')!.nb_read_frames);

describe('every preset on a 2 s 160x120 clip with 5.1 audio', () => {
  let src: string;
  let job: CompiledJob & { paths: string[] };
  /**
   * Each output probed once with every frame decoded (its frames counted, decoder errors on
   * stderr): what every test below reads of it, the clean decode included.
   */
  let probed: DecodedProbe[];
  const names = ['webm', 'webm-vp8', 'av1', 'ogg', 'opus', 'poster', 'webm-2pass'];
  before(() => {
    src = makeClip(join(dir.path, 'all.mp4'), { seconds: 2, width: 160, height: 120, audioChannels: 6 });
    job = encode(src, names, 'all');
    probed = job.paths.map(probeDecoded);
  });

  it('decodes the input once for all one-pass outputs', () => {
    assert.deepEqual(
      job.commands.map((c) => c.label),
      ['poster (still at 0.2 s)', 'webm + webm-vp8 + av1 + ogg + opus', 'webm-2pass pass 1/2', 'webm-2pass pass 2/2'],
    );
    assert.equal(job.commands[1]!.args.filter((a) => a === '-i').length, 1);
  });

  it('each output has the container and codecs its preset promises, and decodes cleanly', () => {
    const expected: Record<string, [string, string | undefined, string | undefined]> = {
      webm: ['matroska,webm', 'vp9', 'opus'],
      'webm-vp8': ['matroska,webm', 'vp8', 'vorbis'],
      av1: ['matroska,webm', 'av1', 'opus'],
      ogg: ['ogg', 'theora', 'vorbis'],
      opus: ['ogg', undefined, 'opus'],
      poster: ['webp_pipe', 'webp', undefined],
      'webm-2pass': ['matroska,webm', 'vp9', 'opus'],
    };
    for (const [i, name] of names.entries()) {
      const p = probed[i]!;
      const [format, v, a] = expected[name]!;
      assert.equal(p.format.format_name, format, name);
      assert.equal(stream(p, 'video')?.codec_name, v, name);
      assert.equal(stream(p, 'audio')?.codec_name, a, name);
      assert.equal(p.streams.length, (v ? 1 : 0) + (a ? 1 : 0), `${name}: only the mapped streams`);
      assert.ok(p.clean, `${name}: ${p.errors}`);
    }
  });

  it('durations and frame counts are within one frame of the source', () => {
    const s = probe(src, true);
    const srcFrames = frames(s),
      srcDuration = Number(s.format.duration);
    for (const [i, name] of names.entries()) {
      if (name === 'poster') continue;
      const p = probed[i]!;
      assert.ok(
        Math.abs(Number(p.format.duration) - srcDuration) <= 1 / 25,
        `${name}: duration ${p.format.duration} vs ${srcDuration}`,
      );
      if (stream(p, 'video'))
        assert.ok(Math.abs(frames(p) - srcFrames) <= 1, `${name}: ${frames(p)} frames vs ${srcFrames}`);
    }
  });

  it('5.1 audio stays 5.1; Opus at 48 kHz', () => {
    for (const [i, name] of names.entries()) {
      const a = stream(probed[i]!, 'audio') as
        | (Probed['streams'][number] & { channel_layout?: string; sample_rate?: string })
        | undefined;
      if (!a) continue;
      assert.equal(a.channels, 6, name);
      assert.equal(a.channel_layout, '5.1', name);
      if (a.codec_name === 'opus') assert.equal(a.sample_rate, '48000', name);
    }
  });

  it('the poster is one 160x120 WebP frame', () => {
    const p = probed[names.indexOf('poster')]!;
    assert.equal(p.streams.length, 1);
    assert.equal(p.streams[0]!.nb_read_frames, '1');
    assert.deepEqual([p.streams[0]!.width, p.streams[0]!.height], [160, 120]);
  });

  it('a damaged output is not clean: one probe flags it as a separate ffmpeg decode does', () => {
    // What lets a single ffprobe stand for a probe plus a decode above. The ogg with 16 bytes
    // flipped mid-file (a page fails its CRC); the webm cut at two thirds (a cluster ends early).
    const ogg = readFileSync(job.paths[names.indexOf('ogg')]!);
    const webm = readFileSync(job.paths[names.indexOf('webm')]!);
    const mid = ogg.length >> 1;
    for (let i = mid; i < mid + 16; i++) ogg[i]! ^= 0xff;
    const damaged = { ogg, webm: webm.subarray(0, Math.floor((webm.length * 2) / 3)) };
    for (const [ext, bytes] of Object.entries(damaged)) {
      const path = join(dir.path, `damaged.${ext}`);
      writeFileSync(path, bytes);
      const p = probeDecoded(path);
      assert.equal(p.clean, false, `${ext}: probeDecoded calls it clean`);
      assert.notEqual(p.errors.trim(), '', ext);
      assert.equal(decodesCleanly(path).ok, false, `${ext}: ffmpeg decodes it cleanly`);
    }
  });
});

describe('encodes of special inputs', () => {
  it('keyframes are at most 5 s apart (VP9 and AV1, 8 s clip)', () => {
    // 12 fps: the spacing is in seconds whatever the rate.
    const src = makeClip(join(dir.path, 'long.mp4'), {
      seconds: 8,
      width: 160,
      height: 120,
      fps: 12,
      audioChannels: 0,
    });
    const job = encode(src, ['webm', 'av1'], 'gop');
    for (const path of job.paths) {
      const times = [...keyframeTimes(path), 8];
      assert.equal(times[0], 0);
      assert.ok(times.length >= 3, `${path}: keyframes at ${times.join(', ')}`);
      for (let i = 1; i < times.length; i++)
        assert.ok(times[i]! - times[i - 1]! <= 5, `${path}: keyframes at ${times.join(', ')}`);
    }
  });

  it('an audio-only input makes an .opus file with opus; webm refuses it', () => {
    const src = makeClip(join(dir.path, 'voice.m4a'), { noVideo: true, audioChannels: 1, seconds: 2 });
    const job = encode(src, ['opus'], 'voice');
    const p = probe(job.paths[0]!);
    assert.equal(p.format.format_name, 'ogg');
    assert.deepEqual(
      p.streams.map((s) => [s.codec_type, s.codec_name, s.channels]),
      [['audio', 'opus', 1]],
    );
    assert.ok(Math.abs(Number(p.format.duration) - 2) < 0.05);
    assert.throws(() => encode(src, ['webm']), { code: 'INPUT_NO_STREAMS' });
  });

  it('an input without audio makes a video-only webm', () => {
    const src = makeClip(join(dir.path, 'silent.mp4'), { audioChannels: 0, seconds: 1, width: 160, height: 120 });
    const job = encode(src, ['webm'], 'silent');
    const p = probeDecoded(job.paths[0]!);
    assert.deepEqual(
      p.streams.map((s) => s.codec_name),
      ['vp9'],
    );
    assert.ok(p.clean, p.errors);
  });

  it('an odd-sized input (321x241) gives even output dimensions', () => {
    const src = join(dir.path, 'odd.mp4');
    ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=321x241:rate=25',
      '-t',
      '1',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv444p',
      src,
    ]);
    assert.equal(probeInfo(src).video!.width, 321);
    const job = encode(src, ['webm', 'poster'], 'odd');
    for (const path of job.paths) {
      const v = stream(probe(path), 'video')!;
      assert.deepEqual([v.width, v.height], [320, 240], path);
    }
  });

  it('a rotated phone video comes out upright, with width and height swapped', () => {
    // makeClip's rotate tag is not written by ffmpeg 5.1 when encoding; a stream copy writes it.
    // 160x120: a turn shows at any size, and each of its pixels is encoded twice (webm, poster).
    const plain = makeClip(join(dir.path, 'phone-plain.mp4'), { width: 160, height: 120, seconds: 1 });
    const src = join(dir.path, 'phone.mp4');
    ffmpeg(['-i', plain, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', src]);
    const info = probeInfo(src).video!;
    assert.deepEqual([info.width, info.height, info.displayWidth, info.displayHeight], [160, 120, 120, 160]);
    assert.notEqual(info.rotation, 0);
    const job = encode(src, ['webm', 'poster'], 'phone');
    for (const path of job.paths) {
      const v = stream(probe(path), 'video')!;
      assert.deepEqual([v.width, v.height], [120, 160], path);
      assert.ok(
        !(v.side_data_list ?? []).some((d) => 'rotation' in d && d.rotation !== 0),
        `${path} is not rotated twice`,
      );
    }
    // Same picture as the source shown upright (ffmpeg autorotates the source here): a wrong
    // turn (270° instead of 90°) would not match.
    const psnr = ffmpeg([
      '-v',
      'info',
      '-i',
      job.paths[0]!,
      '-i',
      src,
      '-lavfi',
      '[0:v][1:v]psnr',
      '-frames:v',
      '1',
      '-f',
      'null',
      '-',
    ]);
    const avg = Number(/PSNR .*average:([\d.]+|inf)/.exec(psnr)?.[1]);
    assert.ok(avg > 25, `PSNR against the upright source: ${avg} dB`);
  });

  it('an interlaced input is deinterlaced and keeps its frame rate', () => {
    const src = join(dir.path, 'interlaced.mp4');
    ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=160x120:rate=25',
      '-t',
      '1',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      '-flags',
      '+ildct+ilme',
      '-x264opts',
      'tff=1',
      '-field_order',
      'tt',
      src,
    ]);
    assert.ok(probeInfo(src).video!.interlaced, 'source is flagged interlaced');
    const job = encode(src, ['webm'], 'interlaced');
    assert.match(job.commands[0]!.args.join(' '), /-vf bwdif=mode=send_frame/);
    const p = probeDecoded(job.paths[0]!);
    assert.equal(frames(p), 25);
    assert.ok(p.clean, p.errors);
  });

  it('a variable frame rate input keeps its frames and timestamps', () => {
    const src = join(dir.path, 'vfr.mp4');
    // 25 fps for 1 s, then every other frame: 25 + 13 frames over 2 s.
    ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=160x120:rate=25',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      '-t',
      '2',
      '-vf',
      "select='lt(n\\,25)+not(mod(n\\,2))'",
      '-fps_mode',
      'vfr',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      src,
    ]);
    const info = probeInfo(src);
    assert.ok(info.video!.vfr, `source is VFR: r=${info.video!.rFrameRate} avg=${info.video!.avgFrameRate}`);
    const s = probe(src, true);
    const job = encode(src, ['webm'], 'vfr');
    const p = probeDecoded(job.paths[0]!);
    assert.ok(Math.abs(frames(p) - frames(s)) <= 1, `${frames(p)} frames vs ${frames(s)}`);
    assert.ok(
      Math.abs(Number(p.format.duration) - Number(s.format.duration)) <= 0.04 + 0.02,
      `${p.format.duration} vs ${s.format.duration}`,
    );
    assert.ok(p.clean, p.errors);
  });
});

// Noise at 25 fps over 8 s: past the first keyframe every frame is rate-limited, and the first
// keyframe's excess is spread as over a bigger clip (the ladder scales the ceiling with the pixel
// count below its lowest rung). VP9 at 160x120 ends where it did at 320x240 (two-pass at 0.7 of its
// ceiling, one-pass 1.2 overall and 0.7-0.75 after 1 s) for a quarter of the CPU; AV1 there came
// within 5-7% of its ceiling and varied between runs, so AV1 and Theora use 240x180 (0.7 and 0.8
// of their ceilings, as at 320x240), half the CPU.
describe('bitrate ceiling on a noisy clip (8 s: VP9 at 160x120, AV1 and Theora at 240x180)', () => {
  const noise = (width: number, height: number) =>
    makeClip(join(dir.path, `noise-${width}.mp4`), { source: 'noise', seconds: 8, audioChannels: 0, width, height });
  let src: string;
  before(() => {
    src = noise(160, 120);
  });
  /**
   * The file's kbit/s over its length. A WebM's length is read from its Segment Info (the Duration
   * ffprobe reports as the format's, held to ffprobe's figure in webm-media.test), without an
   * ffprobe start; the Ogg Theora file asks ffprobe.
   */
  const kbps = async (path: string) => {
    const seconds = path.endsWith('.webm') ? (await readWebmMedia(path))!.seconds : Number(probe(path).format.duration);
    return (statSync(path).size * 8) / seconds / 1000;
  };
  /** Video kbit/s after the first second: the steady state of one-pass rate control. */
  function steadyKbps(path: string): number {
    const r = spawnSync(
      'ffprobe',
      ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,size', '-of', 'csv=p=0', path],
      { encoding: 'utf8' },
    );
    let bytes = 0,
      first = Infinity,
      last = 0;
    for (const line of r.stdout.trim().split('\n')) {
      const [t, size] = line.split(',').map(Number);
      if (t! < 1) continue;
      bytes += size!;
      first = Math.min(first, t!);
      last = Math.max(last, t!);
    }
    return (bytes * 8) / (last - first + 1 / 25) / 1000;
  }

  it('two-pass VP9 stays under the ceiling over the whole file', async () => {
    const job = encode(src, ['webm-2pass'], 'noise');
    const ceiling = job.outputs[0]!.video!.rate!.maxKbps;
    // 218 kbit/s at 320x240, a quarter of it at a quarter of the pixels.
    assert.equal(ceiling, 55);
    const got = await kbps(job.paths[0]!);
    console.log(`webm-2pass on noise: ${got.toFixed(0)} kb/s, ceiling ${ceiling}`);
    assert.ok(got <= ceiling, `${got} kb/s > ${ceiling}`);
  });

  it('one-pass VP9 holds the ceiling once past the first keyframe, and the file stays near it', async () => {
    const job = encode(src, ['webm'], 'noise');
    const ceiling = job.outputs[0]!.video!.rate!.maxKbps;
    const got = await kbps(job.paths[0]!),
      steady = steadyKbps(job.paths[0]!);
    console.log(`webm on noise: ${got.toFixed(0)} kb/s overall, ${steady.toFixed(0)} after 1 s, ceiling ${ceiling}`);
    assert.ok(steady <= ceiling, `steady ${steady} kb/s > ${ceiling}`);
    // One-pass rate control cannot know the first keyframe's cost; bare CRF here is ~50× the ceiling.
    assert.ok(got <= ceiling * 1.25, `${got} kb/s > 1.25 × ${ceiling}`);
  });

  it('AV1 and Theora stay under their ceilings', async () => {
    const job = encode(noise(240, 180), ['av1', 'ogg'], 'noise');
    for (const [i, o] of job.outputs.entries()) {
      const got = await kbps(job.paths[i]!);
      console.log(`${o.preset} on noise: ${got.toFixed(0)} kb/s, ceiling ${o.video!.rate!.maxKbps}`);
      assert.ok(got <= o.video!.rate!.maxKbps, `${o.preset}: ${got} kb/s > ${o.video!.rate!.maxKbps}`);
    }
  });
});
