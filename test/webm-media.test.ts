// An encoded WebM's length and height read from its own header (ffmpeg/webm-media.ts), which a
// worker records for the job's cost per output minute instead of starting ffprobe: on files
// ffmpeg wrote, the same figures as ffprobe's; on a file that records no Duration, or is no WebM,
// none (and measureOutputMedia asks ffprobe, as before).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { measureOutputMedia } from '../src/cost/output-media.js';
import { readWebmMedia } from '../src/ffmpeg/webm-media.js';
import { FFMPEG, FFPROBE, probe, tempDir } from './helpers/media.js';

const d = tempDir('nommer-webm-media-');
after(() => d.cleanup());

// The sources end by themselves: with -t, ffmpeg would declare that length up front, in the
// header of a file it cannot go back and finish.
const VIDEO = ['-f', 'lavfi', '-i', 'testsrc2=size=176x98:rate=12:duration=1.3'];
const AUDIO = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=1.3'];
const FAST_VP9 = ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '100k'];

/** Encodes with ffmpeg into `name` (or to stdout, as a muxer with no seekable file writes it). */
function make(name: string, args: string[], { piped = false } = {}): string {
  const path = join(d.path, name);
  const base = ['-hide_banner', '-loglevel', 'error', '-y', ...args];
  if (piped) writeFileSync(path, execFileSync(FFMPEG, [...base, '-f', 'webm', 'pipe:1']));
  else execFileSync(FFMPEG, [...base, path]);
  return path;
}

/** What ffprobe says of the file: its format duration and first video stream's height. */
function probed(path: string): { seconds: number; height: number | null } {
  const p = probe(path);
  const v = p.streams.find((s) => s.codec_type === 'video');
  return { seconds: Number(p.format.duration), height: v?.height ?? null };
}

test("a WebM's length and height from its header are ffprobe's, with video and audio, video alone and audio alone", async () => {
  const cases = [
    make('both.webm', [...VIDEO, ...AUDIO, ...FAST_VP9, '-c:a', 'libopus']),
    make('video.webm', [...VIDEO, ...FAST_VP9]),
    make('audio.webm', [...AUDIO, '-c:a', 'libopus']),
  ];
  for (const path of cases) {
    const read = await readWebmMedia(path);
    assert.deepEqual(read, probed(path), path);
  }
  assert.equal((await readWebmMedia(cases[2]!))?.height, null, 'no video track: no height');
  assert.equal((await readWebmMedia(cases[1]!))?.height, 98);
  assert.ok(Math.abs((await readWebmMedia(cases[0]!))!.seconds - 1.3) < 0.1, 'about the 1.3 s encoded');
});

test('a WebM with no Duration (written to a pipe), a truncated one and an Ogg give nothing, and are probed instead', async () => {
  const piped = make('piped.webm', [...VIDEO, ...FAST_VP9], { piped: true });
  const whole = make('whole.webm', [...VIDEO, ...FAST_VP9]);
  const cut = join(d.path, 'cut.webm');
  writeFileSync(cut, readFileSync(whole).subarray(0, 60));
  const ogg = make('audio.ogg', [...AUDIO, '-c:a', 'libopus']);
  for (const path of [piped, cut, ogg]) assert.equal(await readWebmMedia(path), undefined, path);
  // measureOutputMedia: the Ogg's figures from ffprobe; the truncated file, which ffprobe cannot
  // read either, left out.
  const media = await measureOutputMedia(FFPROBE, [
    { uri: 'ogg', path: ogg },
    { uri: 'cut', path: cut },
    { uri: 'whole', path: whole },
  ]);
  assert.deepEqual(media, [
    { uri: 'ogg', ...probed(ogg) },
    { uri: 'whole', ...probed(whole) },
  ]);
});
