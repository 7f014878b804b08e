// Adaptive-streaming packages in tests: the source clips the issue names (4:3, 16:9 with an odd
// height, no audio, a subtitle track) and the checks every package must pass.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FFMPEG, FFPROBE, makeClip } from './media.js';
import { FAST_VIDEO } from './srv-cheap.js';
import { webpSize } from './webp.js';

export interface AbrClip {
  name: string;
  path: string;
  width: number;
  height: number;
  audio: boolean;
  subtitle?: string;
}

/**
 * The sources' frame rate: 6 fps is as much as a 2 s GOP, a segment per GOP and a player's switch
 * need (12 frames a segment), and every frame is encoded once per rung.
 */
export const ABR_CLIP_FPS = 6;

/** A test-source clip with a tone, ABR_CLIP_FPS, made as DIR/NAME.mp4 (the common case of the sources below). */
export function plainAbrClip(
  dir: string,
  name: string,
  size: { seconds: number; width: number; height: number },
): AbrClip {
  return {
    name,
    path: makeClip(join(dir, `${name}.mp4`), { ...size, fps: ABR_CLIP_FPS }),
    width: size.width,
    height: size.height,
    audio: true,
  };
}

/**
 * The sources (4 s each at ABR_CLIP_FPS, small enough to encode in a second): 4:3, 16:9 with an
 * odd height and 4:4:4 chroma carrying an English mov_text subtitle, one without audio, and an
 * MPEG-TS at 29.97 fps with its audio ahead of its video. `names` picks some (each made only when
 * asked: a file that packages one clip does not make the others).
 */
export function makeAbrClips(dir: string, names?: readonly string[]): AbrClip[] {
  const makers: Record<string, () => AbrClip> = {
    '4x3': () => plainAbrClip(dir, '4x3', { seconds: 4, width: 320, height: 240 }),
    odd16x9: () => ({
      name: 'odd16x9',
      path: withSubtitle(
        dir,
        makeClip(join(dir, 'odd16x9-base.mp4'), {
          seconds: 4,
          width: 428,
          height: 241,
          fps: ABR_CLIP_FPS,
          extra: ['-pix_fmt', 'yuv444p'],
        }),
        join(dir, 'odd16x9.mp4'),
      ),
      width: 428,
      height: 241,
      audio: true,
      subtitle: 'Hello from nommer',
    }),
    silent: () => ({
      name: 'silent',
      path: makeClip(join(dir, 'silent.mp4'), {
        seconds: 4,
        width: 426,
        height: 240,
        fps: ABR_CLIP_FPS,
        audioChannels: 0,
      }),
      width: 426,
      height: 240,
      audio: false,
    }),
    offset: () => ({ name: 'offset', path: offsetClip(dir), width: 320, height: 240, audio: true }),
  };
  return (names ?? Object.keys(makers)).map((n) => {
    const make = makers[n];
    if (!make) throw new Error(`no abr clip named ${n}`);
    return make();
  });
}

/**
 * An MPEG-TS at 30000/1001 fps whose audio starts 1 s before its video (both end together), as
 * broadcast captures are: a GOP that must round up, and an offset the package must keep in sync.
 */
function offsetClip(dir: string): string {
  const video = ffmpegClip(join(dir, 'ntsc-video.mp4'), [
    ...['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30000/1001', '-t', '4'],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
  ]);
  return ffmpegClip(join(dir, 'offset.ts'), [
    ...['-itsoffset', '1', '-i', video, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=5'],
    ...['-map', '0:v', '-map', '1:a', '-c:v', 'copy', '-c:a', 'aac', '-f', 'mpegts'],
  ]);
}

/** `base` with an English mov_text subtitle track (two cues; the first says "Hello from nommer"). */
function withSubtitle(dir: string, base: string, out: string): string {
  const srt = join(dir, 'subs.srt');
  writeFileSync(
    srt,
    '1\n00:00:00,500 --> 00:00:03,000\nHello from nommer\n\n2\n00:00:03,500 --> 00:00:05,500\nSecond line\n',
  );
  return ffmpegClip(out, [
    ...['-i', base, '-i', srt, '-map', '0', '-map', '1', '-c', 'copy', '-c:s', 'mov_text'],
    ...['-metadata:s:s:0', 'language=eng'],
  ]);
}

function ffmpegClip(path: string, args: string[]): string {
  const r = spawnSync(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-y', ...args, path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`making ${path} failed: ${r.stderr}`);
  return path;
}

/**
 * The built-in packages with two small rungs (144 and 240 lines): test clips stay tiny and still
 * get two renditions to switch between. Written where the CLI looks for config (`writeAbrConfig`)
 * or given to feederd.
 */
export const SMALL_ABR_PRESETS = {
  'abr-small': { extends: 'abr', abr: { rungs: [144, 240] } },
  'abr-av1-small': { extends: 'abr-av1', abr: { rungs: [144, 240] } },
};

export function writeAbrConfig(dir: string): void {
  writeFileSync(join(dir, 'nommer.config.json'), JSON.stringify({ presets: SMALL_ABR_PRESETS }));
}

/** Settings that keep a test package quick: 2 s segments, fast VP9. */
export const FAST_ABR = ['abr.segmentSeconds=2', ...FAST_VIDEO];

function probeJson(args: string[]): {
  streams?: Array<Record<string, unknown>>;
  packets?: Array<{ flags: string; pts_time?: string; pos?: string }>;
} {
  const r = spawnSync(FFPROBE, ['-v', 'error', '-of', 'json', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffprobe ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The dash muxer's representations, from the MPD. */
export function representations(
  mpd: string,
): Array<{ id: string; width?: number; height?: number; mime: string; codecs: string }> {
  const out = [];
  for (const m of mpd.matchAll(/<Representation\b([^>]*)>/g)) {
    const attr = (n: string) => new RegExp(`\\b${n}="([^"]*)"`).exec(m[1]!)?.[1];
    out.push({
      id: attr('id') ?? '',
      width: attr('width') ? Number(attr('width')) : undefined,
      height: attr('height') ? Number(attr('height')) : undefined,
      mime: attr('mimeType') ?? '',
      codecs: attr('codecs') ?? '',
    });
  }
  return out;
}

/** Everything the issue says a package must be; returns the video renditions' sizes and sample counts. */
export function checkPackage(
  dir: string,
  clip: AbrClip,
  tmp: string,
  segmentSeconds = 2,
): Array<{ width: number; height: number; packets: number }> {
  for (const f of ['manifest.mpd', 'master.m3u8']) assert.ok(existsSync(join(dir, f)), `${f} in ${dir}`);
  const files = readdirSync(dir);
  const mpd = readFileSync(join(dir, 'manifest.mpd'), 'utf8');
  const master = readFileSync(join(dir, 'master.m3u8'), 'utf8');
  const inits = files.filter((f) => /^init-stream\d+\.m4s$/.test(f)).sort();
  const sizes: Array<{ width: number; height: number; packets: number }> = [];
  let audioStreams = 0;
  for (const init of inits) {
    const i = Number(/\d+/.exec(init)![0]);
    const chunks = files.filter((f) => f.startsWith(`chunk-stream${i}-`)).sort();
    assert.ok(chunks.length >= 2, `stream ${i} has ${chunks.length} segments`);
    // The stream as a player appends it (init, then every segment), probed once: its stream
    // info, and where each of its packets starts in the file.
    const parts = [init, ...chunks].map((f) => readFileSync(join(dir, f)));
    const joined = join(tmp, `stream-${i}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.mp4`);
    writeFileSync(joined, Buffer.concat(parts));
    const probed = probeJson(['-show_entries', 'stream:packet=pos,flags', joined]);
    const info = probed.streams?.[0] ?? {};
    if (info.codec_type === 'audio') {
      audioStreams++;
      assert.equal(info.codec_name, 'opus');
      continue;
    }
    const w = Number(info.width),
      h = Number(info.height);
    // Its samples, in order: one per frame shown (VP9 and AV1 carry a hidden frame inside a shown one's).
    sizes.push({ width: w, height: h, packets: (probed.packets ?? []).length });
    assert.ok(
      h <= clip.height && w <= clip.width,
      `rendition ${w}x${h} is never larger than the ${clip.width}x${clip.height} source`,
    );
    assert.equal(w % 2, 0, 'even width');
    assert.equal(h % 2, 0, 'even height');
    assert.ok(
      Math.abs(w / h - clip.width / clip.height) < 2.5 / h,
      `aspect of ${w}x${h} is the source's ${clip.width}x${clip.height}`,
    );
    // Square pixels, to within the fraction of a percent one display aspect per adaptation set needs.
    const sar = String(info.sample_aspect_ratio ?? '1:1');
    const [sn, sd] = sar.split(':').map(Number) as [number, number];
    assert.ok(sn === 0 || Math.abs(sn / sd - 1) < 0.005, `square pixels (SAR ${sar})`);
    // Every segment starts on a keyframe: the first packet at or after the segment's first byte
    // (each segment is a moof and its mdat, so that packet is the segment's first sample) is one.
    const packets = (probed.packets ?? []).map((p) => ({ pos: Number(p.pos), flags: p.flags }));
    let at = parts[0]!.length;
    for (const [k, c] of chunks.entries()) {
      const end = at + parts[k + 1]!.length;
      const first = packets.find((p) => p.pos >= at);
      assert.ok(first && first.pos < end, `${c} of stream ${i} holds a packet`);
      assert.ok(first.flags.startsWith('K'), `${c} of stream ${i} starts on a keyframe (flags ${first.flags})`);
      at = end;
    }
  }
  assert.ok(sizes.length >= 1, 'at least one video rendition');
  assert.equal(audioStreams, clip.audio ? 1 : 0, 'one Opus rendition when the source has audio, none without');
  assert.equal(
    representations(mpd).filter((r) => r.height !== undefined).length,
    sizes.length,
    'MPD lists every rendition',
  );
  assert.equal([...master.matchAll(/#EXT-X-STREAM-INF/g)].length, sizes.length, 'HLS master lists every rendition');
  // HLS: every variant's BANDWIDTH is at least what it plays on average (its video and the audio).
  const audioUri = /TYPE=AUDIO[^\n]*URI="([^"]+)"/.exec(master)?.[1];
  const avgOf = (pl: string) => {
    const text = readFileSync(join(dir, pl), 'utf8');
    assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD/, pl);
    assert.doesNotMatch(text, /PROGRAM-DATE-TIME/, pl);
    const durs = [...text.matchAll(/#EXTINF:([0-9.]+),\s*\n(\S+)/g)];
    const bits = durs.reduce((n, m) => n + readFileSync(join(dir, m[2]!)).length * 8, 0);
    return bits / durs.reduce((n, m) => n + Number(m[1]), 0);
  };
  const audioAvg = audioUri ? avgOf(audioUri) : 0;
  for (const m of master.matchAll(/#EXT-X-STREAM-INF:([^\n]*)\n+(\S+)/g)) {
    const bw = Number(/\bBANDWIDTH=(\d+)/.exec(m[1]!)?.[1]);
    const avg = Number(/AVERAGE-BANDWIDTH=(\d+)/.exec(m[1]!)?.[1]);
    const plays = avgOf(m[2]!) + audioAvg;
    assert.ok(
      avg >= plays * 0.999 && bw >= avg,
      `${m[2]}: BANDWIDTH ${bw}, AVERAGE ${avg}, plays ${Math.round(plays)} b/s`,
    );
  }
  // Segments: every one but the last is one segment long (within a frame), the same in every
  // rendition; the audio lasts as long as the video (it starts at the first video frame).
  const lengths = (pl: string) =>
    [...readFileSync(join(dir, pl), 'utf8').matchAll(/#EXTINF:([0-9.]+),/g)].map((m) => Number(m[1]));
  const variants = [...master.matchAll(/#EXT-X-STREAM-INF:[^\n]*\n+(\S+)/g)].map((m) => lengths(m[1]!));
  for (const v of variants) {
    for (const x of v.slice(0, -1))
      assert.ok(Math.abs(x - segmentSeconds) < 0.05, `segments of ${segmentSeconds} s: ${v.join(', ')}`);
    assert.deepEqual(v, variants[0], 'every rendition has the same segments');
  }
  const videoSeconds = variants[0]!.reduce((a, b) => a + b, 0);
  if (audioUri) {
    const audioSeconds = lengths(audioUri).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(audioSeconds - videoSeconds) < 0.1, `audio ${audioSeconds} s against video ${videoSeconds} s`);
  }
  for (const m of master.matchAll(/#EXT-X-STREAM-INF:([^\n]*)/g)) {
    const bw = Number(/\bBANDWIDTH=(\d+)/.exec(m[1]!)?.[1]);
    const avg = Number(/AVERAGE-BANDWIDTH=(\d+)/.exec(m[1]!)?.[1]);
    assert.ok(bw <= 2 * avg, `peak ${bw} within twice the average ${avg} on this uniform clip`);
  }
  if (clip.subtitle) {
    const vtt = files.filter((f) => f.endsWith('.vtt') && f !== 'thumbnails.vtt');
    assert.equal(vtt.length, 1, `one subtitle file (${files.join(', ')})`);
    assert.match(readFileSync(join(dir, vtt[0]!), 'utf8'), new RegExp(clip.subtitle));
    assert.match(mpd, /mimeType="text\/vtt"/);
    assert.match(mpd, /lang="en"/);
    assert.match(master, /TYPE=SUBTITLES/);
  }
  // Seek thumbnails: every cue points at a sprite that exists, inside its picture.
  const thumbs = readFileSync(join(dir, 'thumbnails.vtt'), 'utf8');
  const refs = [...thumbs.matchAll(/^(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)$/gm)];
  assert.ok(refs.length >= 2, `thumbnail cues: ${refs.length}`);
  const dims = new Map<string, { w: number; h: number }>();
  for (const [, file, x, y, w, h] of refs) {
    assert.ok(existsSync(join(dir, file!)), `sprite ${file} exists`);
    if (!dims.has(file!)) {
      const s = webpSize(join(dir, file!));
      dims.set(file!, { w: s.width, h: s.height });
    }
    const d = dims.get(file!)!;
    assert.ok(
      Number(x) + Number(w) <= d.w && Number(y) + Number(h) <= d.h,
      `${file}#xywh=${x},${y},${w},${h} inside ${d.w}x${d.h}`,
    );
  }
  assert.ok(existsSync(join(dir, 'poster.webp')), 'poster');
  return sizes;
}
