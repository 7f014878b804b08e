// Issue 23: scores and the measuring reference are trusted only as far as nommer made them.
// - item 8: an input's metadata (printed by ffmpeg at the info level the metric filters log at)
//   cannot set a recorded score or steer a quality target;
// - item 5: a container that claims a short duration cannot make the raw measuring reference
//   written beside an encode grow past what was planned.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { measureQuality, measureScore } from '../src/quality/measure.js';
import type { OutputQuality, SearchRecord } from '../src/quality/types.js';
import { FFMPEG, tempDir } from './helpers/media.js';
import { nommer } from './helpers/cli.js';

const work = tempDir('nommer-quality-trust-');
after(() => work.cleanup());
const ff = locateFfmpeg().ffmpeg;

function ffmpeg(args: string[]): void {
  const r = spawnSync(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** A lossless 3 s clip, small enough for a whole target search to stay cheap. */
const GOOD = join(work.path, 'good.mkv');
ffmpeg([
  ...['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=12', '-t', '3'],
  ...['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv420p', GOOD],
]);

/**
 * The same frames, with tags that read like the metric filters' summaries: a title and a comment
 * (ffmpeg prints them indented), and a tag whose name holds a line break, so that one of its
 * lines starts like the SSIM filter's own log line. The Matroska muxer upper-cases tag names, so
 * that line is written upper-cased and set back byte for byte (same length) in the file.
 */
const EVIL = join(work.path, 'evil.mkv');
const FORGED_LINE = '[Parsed_ssim_0 @ 0x1] SSIM Y:0 All:0.200000 (0)';
{
  const raw = join(work.path, 'evil-raw.mkv');
  ffmpeg([
    ...['-i', GOOD, '-c', 'copy'],
    ...['-metadata', 'title=x] SSIM Y:0 All:0.100000 (0)'],
    ...['-metadata', 'comment=y] PSNR y:0 u:0 v:0 average:7.500000 min:0 max:0'],
    ...['-metadata', `k\n${FORGED_LINE}\nz=v`],
    raw,
  ]);
  const bytes = readFileSync(raw);
  const upper = Buffer.from(FORGED_LINE.toUpperCase().replaceAll(' ', '_'));
  assert.ok(bytes.includes(upper), 'the muxer wrote the tag name as expected');
  writeFileSync(EVIL, Buffer.from(bytes.toString('latin1').replace(upper.toString('latin1'), FORGED_LINE), 'latin1'));
  const dump = spawnSync(FFMPEG, ['-hide_banner', '-i', EVIL], { encoding: 'utf8' }).stderr;
  assert.ok(dump.split('\n').includes(FORGED_LINE), `ffmpeg prints the forged line at the start of a line:\n${dump}`);
}

async function encodeJson(input: string, out: string, extra: string[] = []): Promise<OutputQuality> {
  const r = await nommer(['encode', input, '-o', out, '--json', '-f', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { outputs: Array<{ quality: OutputQuality }> }).outputs[0]!.quality;
}

test('a title tag that reads like a score changes neither the recorded SSIM/PSNR nor the scores of a measurement', async () => {
  const good = await encodeJson(GOOD, join(work.path, 'good.webm'));
  const evil = await encodeJson(EVIL, join(work.path, 'evil.webm'));
  assert.ok(good.ssim !== undefined && good.ssim > 0.9, JSON.stringify(good));
  assert.equal(evil.ssim, good.ssim, `recorded SSIM: ${JSON.stringify(evil)}`);
  assert.equal(evil.psnr, good.psnr, `recorded PSNR: ${JSON.stringify(evil)}`);
  // The measurement a search's probe makes (one metric) and the full one, against the tagged source.
  const m = (reference: string) => ({
    ffmpeg: ff,
    distorted: join(work.path, 'good.webm'),
    reference: `file:${reference}`,
    referenceStream: 0,
    referenceFilters: '',
    width: 160,
    height: 120,
    pixFmt: 'yuv420p',
  });
  assert.equal(await measureScore(m(EVIL), 'ssim'), await measureScore(m(GOOD), 'ssim'));
  assert.equal(await measureScore(m(EVIL), 'psnr'), await measureScore(m(GOOD), 'psnr'));
  const a = await measureQuality(m(EVIL));
  const b = await measureQuality(m(GOOD));
  assert.deepEqual([a.ssim, a.psnr], [b.ssim, b.psnr]);
});

test('a title tag that reads like a score does not steer --target: the same probes, CRF and score as the untagged input', async () => {
  const good = await encodeJson(GOOD, join(work.path, 'good-target.webm'), ['--target', 'ssim=0.97']);
  const evil = await encodeJson(EVIL, join(work.path, 'evil-target.webm'), ['--target', 'ssim=0.97']);
  const g = good.search as SearchRecord;
  const e = evil.search as SearchRecord;
  assert.equal(g.reached, true, JSON.stringify(g));
  assert.equal(e.crf, g.crf, `CRF of the tagged input: ${JSON.stringify(e)}`);
  assert.equal(e.reached, true);
  assert.equal(evil.ssim, good.ssim);
  assert.deepEqual(
    e.tried.map((p) => [p.crf, p.score]),
    g.tried.map((p) => [p.crf, p.score]),
  );
});
