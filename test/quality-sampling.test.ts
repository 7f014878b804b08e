// Issue 25: measuring by default compares every 11th frame (the record says `sampling:
// {every: 11, first: 5}`), and `quality.sampleEvery=1` measures every frame (`sampling: 'full'`, the
// score of a fresh full measurement). A tiny noisy clip (160x120, 12 fps, 3 s).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { localFileStorage } from '../src/backends.js';
import { encode } from '../src/encode.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { getPreset } from '../src/presets/registry.js';
import { DEFAULT_SAMPLE_EVERY } from '../src/quality/encode-quality.js';
import { ssim } from './helpers/chunked.js';
import { FFMPEG, tempDir } from './helpers/media.js';

const work = tempDir('nommer-sampling-');
after(() => work.cleanup());

const input = join(work.path, 'noisy.mkv');
const made = spawnSync(
  FFMPEG,
  [
    ...[
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'mandelbrot=size=160x120:rate=12,noise=alls=5:allf=t',
    ],
    ...['-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv420p', input],
  ],
  { encoding: 'utf8' },
);
if (made.status !== 0) throw new Error(made.stderr);

test('the decode measurement (SSIM asked for, or an encoder that reports no PSNR) is sampled and says so; sampleEvery=1 measures every frame and says full', async () => {
  const run = async (preset: ReturnType<typeof getPreset>, name: string) => {
    const path = join(work.path, name);
    const r = await encode({
      ffmpeg: locateFfmpeg(),
      storage: localFileStorage(),
      input,
      outputs: [{ preset, path }],
      force: true,
    });
    return { q: r.outputs[0]!.quality!, path };
  };
  const ssimOn = applyOverrides(getPreset('webm'), ['quality.ssim=true']);
  const sampled = await run(ssimOn, 'sampled.webm');
  // The frames measured: every 11th, from the 6th (0-based 5, never the first keyframe).
  assert.deepEqual(sampled.q.sampling, { every: DEFAULT_SAMPLE_EVERY, first: Math.floor(DEFAULT_SAMPLE_EVERY / 2) });
  // SVT-AV1 reports no PSNR: its default record is the sampled decode pass, SSIM included.
  const av1 = await run(getPreset('av1'), 'sampled-av1.webm');
  assert.deepEqual(av1.q.sampling, { every: DEFAULT_SAMPLE_EVERY, first: Math.floor(DEFAULT_SAMPLE_EVERY / 2) });
  assert.equal(av1.q.source, undefined);
  assert.ok(Math.abs(av1.q.ssim! - ssim(av1.path, input).all) <= 0.01, JSON.stringify(av1.q));
  // VP9 by default: every frame, from the encoder (test/quality.test.ts checks its figures).
  const byEncoder = await run(getPreset('webm'), 'encoder.webm');
  assert.equal(byEncoder.q.sampling, 'full');
  assert.equal(byEncoder.q.source, 'encoder');
  assert.equal(byEncoder.q.pooledLuma?.frames, 36);
  const full = await run(applyOverrides(ssimOn, ['quality.sampleEvery=1']), 'full.webm');
  assert.equal(full.q.sampling, 'full');
  const fresh = ssim(full.path, input);
  assert.equal(fresh.frames, 36);
  assert.ok(Math.abs(full.q.ssim! - fresh.all) <= 0.0005, `full: reported ${full.q.ssim}, measured ${fresh.all}`);
  // The same encode (same argv): the sampled score is near the full one.
  assert.ok(Math.abs(sampled.q.ssim! - fresh.all) <= 0.01, `sampled ${sampled.q.ssim}, full ${fresh.all}`);
});
