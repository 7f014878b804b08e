// Issue 26, item 3: every measured video output reports SSIM and PSNR as a distribution of its
// frames (mean, harmonic mean, p1, p5, min, and when its worst moments are), over the frames it
// measured, which its record names. Done when p5 and min equal an independent per-frame
// measurement within 0.003: here on a tiny clip (160x120, 25 fps, 8 s) whose seconds 3 to 5 are
// heavy noise, hard to encode, so the distribution is far from flat. The test measures the frames
// itself: ffmpeg's ssim and psnr filters on the same frames, their per-frame lines read here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { localFileStorage } from '../src/backends.js';
import { encode } from '../src/encode.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { getPreset } from '../src/presets/registry.js';
import { DEFAULT_SAMPLE_EVERY } from '../src/quality/encode-quality.js';
import { filterPath, measureQuality } from '../src/quality/measure.js';
import {
  harmonicMean,
  parsePsnrLine,
  parseSsimLine,
  percentile,
  poolQuality,
  worstMoments,
} from '../src/quality/pool.js';
import { formatTarget, inWindow, parseTarget, scoreOf } from '../src/quality/types.js';
import { qualitySets } from '../src/jobspec.js';
import { FFMPEG, makeClip, tempDir } from './helpers/media.js';

const work = tempDir('nommer-qdist-');
after(() => work.cleanup());

const FPS = 25;
const HARD = { from: 3, to: 5 };
const input = join(work.path, 'hard.mkv');
const made = spawnSync(
  FFMPEG,
  [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi'],
    ...['-i', `testsrc2=size=160x120:rate=${FPS},noise=alls=40:allf=t:enable='between(t,${HARD.from},${HARD.to})'`],
    ...['-t', '8', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv420p', input],
  ],
  { encoding: 'utf8' },
);
if (made.status !== 0) throw new Error(made.stderr);

/** The test's own measurement: per-frame SSIM ("All") and PSNR ("psnr_avg") of every frame. */
function perFrame(out: string, src: string): { ssim: number[]; psnr: number[] } {
  const graph = [
    `[0:v]setpts=N/(${FPS}*TB),split[d1][d2]`,
    `[1:v]setpts=N/(${FPS}*TB),split[r1][r2]`,
    '[d1][r1]ssim=stats_file=-',
    '[d2][r2]psnr=stats_file=-',
  ].join(';');
  const r = spawnSync(FFMPEG, ['-hide_banner', '-nostats', '-i', out, '-i', src, '-lavfi', graph, '-f', 'null', '-'], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  assert.equal(r.status, 0, r.stderr);
  const ssim = [...r.stdout.matchAll(/All:([0-9.]+)/g)].map((m) => Number(m[1]));
  const psnr = [...r.stdout.matchAll(/psnr_avg:([0-9.]+|inf)/g)].map((m) => (m[1] === 'inf' ? 100 : Number(m[1])));
  return { ssim, psnr };
}

/**
 * Every `every`th frame's scores from every/2 on. A frame's SSIM and PSNR depend on that frame
 * alone, so these are what a run measuring only those frames gives, without a second run over
 * the clip (issue 24).
 */
function sampled(all: { ssim: number[]; psnr: number[] }, every: number): { ssim: number[]; psnr: number[] } {
  const keep = (_: number, n: number) => n % every === Math.floor(every / 2);
  return { ssim: all.ssim.filter(keep), psnr: all.psnr.filter(keep) };
}

/** The pth percentile as the record defines it: linear between the closest ranks (numpy's default). */
function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * p;
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!);
}

/** nommer's measurement of every frame of `out` against the clip. */
function measureEvery(out: string) {
  return measureQuality({
    ffmpeg: locateFfmpeg().ffmpeg,
    distorted: out,
    reference: `file:${input}`,
    referenceStream: 0,
    referenceFilters: '',
    width: 160,
    height: 120,
    pixFmt: 'yuv420p',
    fps: FPS,
  });
}

function near(got: number, want: number, what: string, within = 0.003): void {
  assert.ok(Math.abs(got - want) <= within, `${what}: reported ${got}, measured ${want}`);
}

// ---- pure parts ---------------------------------------------------------------------------

test('per-frame lines, percentiles, harmonic mean and worst moments', () => {
  assert.deepEqual(parseSsimLine('n:3 Y:0.918542 U:0.946007 V:0.956547 All:0.929454 (11.515246)'), [3, 0.929454]);
  assert.deepEqual(parsePsnrLine('n:2 mse_avg:119.34 mse_y:136.54 psnr_avg:27.36 psnr_y:26.78 '), [2, 27.36]);
  assert.deepEqual(parsePsnrLine('n:1 mse_avg:0.00 psnr_avg:inf psnr_y:inf '), [1, 100]);
  assert.equal(parseSsimLine('Duration: 00:00:01 All:0.5'), undefined);
  assert.equal(percentile([1, 2, 3, 4, 5], 0.05), 1.2);
  assert.equal(percentile([7], 0.01), 7);
  assert.ok(Math.abs(harmonicMean([1, 0.5]) - 2 / 3) < 1e-12);
  assert.equal(harmonicMean([0.9, 0]), 0);
  // Frames 0..10 at 10 fps: every low frame is within a second of the lowest, one moment.
  const one = worstMoments(
    [0.9, 0.5, 0.4, 0.95, 0.9, 0.9, 0.9, 0.9, 0.9, 0.6, 0.7],
    { first: 0, every: 1, fps: 10 },
    6,
  );
  assert.deepEqual(one, [{ frame: 2, time: 0.2, score: 0.4 }]);
  // Every 11th frame from the 6th at 25 fps (0.2 s, 0.64 s ... 2.4 s): 2.4 s, then 0.2 s; 1.52 s is 2.4's moment.
  const spread = worstMoments([0.5, 0.9, 0.9, 0.4, 0.9, 0.3], { first: 5, every: 11, fps: 25 }, 6);
  assert.deepEqual(
    spread.map((w) => [w.frame, w.time]),
    [
      [60, 2.4],
      [5, 0.2],
    ],
  );
  // Metrics that do not cover the same frames are not pooled (never one metric's frames with another's).
  const at = { first: 0, every: 1, fps: 25 };
  assert.equal(poolQuality(new Map([[1, 0.9]]), new Map(), at), undefined);
  assert.equal(
    poolQuality(
      new Map([
        [1, 0.9],
        [3, 0.8],
      ]),
      new Map([
        [1, 40],
        [2, 41],
      ]),
      at,
    ),
    undefined,
  );
});

test('a target may aim at a pooled figure (ssim.p5=0.95); the old syntax is unchanged', () => {
  assert.deepEqual(parseTarget('ssim=0.985'), { metric: 'ssim', value: 0.985 });
  assert.deepEqual(parseTarget('ssim.p5=0.95'), { metric: 'ssim', value: 0.95, pool: 'p5' });
  assert.deepEqual(parseTarget('PSNR.min:30'), { metric: 'psnr', value: 30, pool: 'min' });
  assert.equal(formatTarget(parseTarget('ssim.p5:0.95')), 'ssim.p5=0.95');
  assert.deepEqual(qualitySets({ target: 'ssim.p5=0.95' }), ['quality.target=ssim.p5=0.95', 'quality.measure=true']);
  assert.equal(applyOverrides(getPreset('webm'), ['quality.target=ssim.p5=0.95']).quality?.target, 'ssim.p5=0.95');
  const usage = (hint: RegExp) => (e: Error & { code?: string; hint?: string }) =>
    e.code === 'USAGE' && hint.test(e.hint ?? '');
  assert.throws(() => parseTarget('ssim.p3=0.95'), usage(/ssim\.p5/));
  assert.throws(() => parseTarget('vmaf.p5=90'), usage(/vmaf=93/));
  assert.throws(() => parseTarget('ssim.p5=2'), usage(/e\.g\./));
  const q = { ssim: 0.98, psnr: 40, pooled: undefined };
  assert.equal(scoreOf(q, { metric: 'ssim' }), 0.98);
  assert.equal(scoreOf(q, { metric: 'ssim', pool: 'p5' }), undefined);
});

// ---- on a real encode -----------------------------------------------------------------------

test('p5 and min (and mean, harmonic, p1) equal an independent per-frame measurement of the same frames, sampled and every frame', async (t) => {
  const out = join(work.path, 'hard.webm');
  const r = await encode({
    ffmpeg: locateFfmpeg(),
    storage: localFileStorage(),
    input,
    // SSIM asked for: the decode pass, sampled (without it VP9's PSNR comes from the encoder).
    outputs: [{ preset: applyOverrides(getPreset('webm'), ['quality.ssim=true']), path: out }],
    force: true,
  });
  const q = r.outputs[0]!.quality!;
  // The record names the frames measured: every 11th from the 6th (0-based 5).
  const every = DEFAULT_SAMPLE_EVERY;
  assert.deepEqual(q.sampling, { every, first: Math.floor(every / 2) });
  const all = perFrame(out, input);
  const mine = sampled(all, every);
  assert.equal(q.pooled!.frames, mine.ssim.length);
  assert.equal(mine.ssim.length, Math.ceil((8 * FPS - Math.floor(every / 2)) / every));
  for (const m of ['ssim', 'psnr'] as const) {
    const p = q.pooled![m];
    t.diagnostic(
      `${m} over ${mine[m].length} frames: p5 ${p.p5} (measured ${pct(mine[m], 0.05)}), min ${p.min} (measured ${Math.min(...mine[m])}), mean ${p.mean}`,
    );
    near(p.p5, pct(mine[m], 0.05), `${m} p5`);
    near(p.min, Math.min(...mine[m]), `${m} min`);
    near(p.p1, pct(mine[m], 0.01), `${m} p1`);
    near(p.mean, mine[m].reduce((s, x) => s + x, 0) / mine[m].length, `${m} mean`);
    near(p.harmonic, mine[m].length / mine[m].reduce((s, x) => s + 1 / x, 0), `${m} harmonic`);
  }
  // Not flat: the noisy seconds pull the low end far under the mean, and the worst moment is in them.
  assert.ok(q.pooled!.ssim.min < q.pooled!.ssim.mean - 0.1, JSON.stringify(q.pooled!.ssim));
  const worst = q.pooled!.ssim.worst[0]!;
  assert.ok(worst.time >= HARD.from && worst.time <= HARD.to, `worst at ${worst.time} s`);
  assert.equal(worst.frame, Math.floor(every / 2) + mine.ssim.indexOf(Math.min(...mine.ssim)) * every);
  assert.equal(worst.time, worst.frame / FPS);
  // The mean SSIM is the filter's own average (as before); pooled it is the same frames' mean.
  near(q.ssim!, q.pooled!.ssim.mean, 'ssim mean', 1e-5);

  // Every frame of the same output: 200 frames, p1 and p5 of all of them.
  const full = await measureEvery(out);
  assert.equal(full.pooled!.frames, 8 * FPS);
  for (const m of ['ssim', 'psnr'] as const) {
    near(full.pooled![m].p5, pct(all[m], 0.05), `full ${m} p5`);
    near(full.pooled![m].p1, pct(all[m], 0.01), `full ${m} p1`);
    near(full.pooled![m].min, Math.min(...all[m]), `full ${m} min`);
  }
  assert.ok(full.pooled!.ssim.worst.every((w) => w.frame >= 0 && w.frame < 8 * FPS));

  // The stats files live in a temp directory of any name: TMPDIR with the filtergraph's own syntax in it.
  const odd = join(work.path, "t:m,p[d];i'r");
  mkdirSync(odd);
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = odd;
  try {
    const again = await measureEvery(out);
    assert.deepEqual(again.pooled, full.pooled);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  assert.deepEqual(readdirSync(odd), [], 'the stats files are removed');
  assert.equal(filterPath(String.raw`/a:b,c[d];e'f\g`), String.raw`/a\\:b\,c\[d\]\;e\\\'f\\\\g`);
});

test('a target on a pooled figure (ssim.p5) steers the CRF on that figure of the final file, every frame measured', async () => {
  const clip = makeClip(join(work.path, 'clip.mp4'), {
    seconds: 2,
    width: 160,
    height: 120,
    fps: 12,
    audioChannels: 0,
  });
  const r = await encode({
    ffmpeg: locateFfmpeg(),
    storage: localFileStorage(),
    input: clip,
    outputs: [
      {
        preset: applyOverrides(getPreset('webm'), qualitySets({ target: 'ssim.p5=0.97' })),
        path: join(work.path, 'target.webm'),
      },
    ],
    force: true,
  });
  const q = r.outputs[0]!.quality!;
  const s = q.search!;
  assert.ok(!('chunks' in s));
  assert.equal(s.target, 'ssim.p5=0.97');
  assert.equal(q.sampling, 'full');
  assert.equal(s.score, q.pooled!.ssim.p5);
  assert.ok(s.reached, JSON.stringify(s));
  assert.ok(inWindow(parseTarget('ssim.p5=0.97'), q.pooled!.ssim.p5));
  // Aiming at the 5th percentile puts the mean above the target, where ssim=0.97 would sit on it.
  assert.ok(q.ssim! > q.pooled!.ssim.p5, JSON.stringify(q.pooled!.ssim));
});
