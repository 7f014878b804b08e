import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressParser, TaskProgress, type FfmpegProgressBlock } from '../src/ffmpeg/progress.js';

const block = (us: number, extra = '') =>
  `frame=10\nfps=24.5\nbitrate=100kbits/s\ntotal_size=1000\nout_time_us=${us}\nout_time_ms=${us}\nout_time=00:00:01.000000\n${extra}speed=2.4x\nprogress=continue\n`;

test('parser emits one block per progress= line, reading out_time_us as microseconds', () => {
  const got: FfmpegProgressBlock[] = [];
  const p = new ProgressParser((b) => got.push(b));
  const text = block(1_500_000) + block(3_000_000).replace('progress=continue', 'progress=end');
  // feed in awkward chunks, split mid-line
  for (let i = 0; i < text.length; i += 7) p.push(text.slice(i, i + 7));
  assert.equal(got.length, 2);
  assert.equal(got[0]!.outTimeSeconds, 1.5);
  assert.equal(got[0]!.fps, 24.5);
  assert.equal(got[0]!.speed, 2.4);
  assert.equal(got[0]!.end, false);
  assert.equal(got[1]!.end, true);
  assert.equal(got[1]!.outTimeSeconds, 3);
});

test('N/A and negative values do not become numbers', () => {
  const got: FfmpegProgressBlock[] = [];
  const p = new ProgressParser((b) => got.push(b));
  p.push('fps=N/A\nout_time_us=-9223372036854775807\nspeed=N/A\nprogress=continue\n');
  assert.equal(got[0]!.fps, undefined);
  assert.equal(got[0]!.outTimeSeconds, undefined);
  assert.equal(got[0]!.speed, undefined);
});

test('task progress weighs runs: pass 1 done + half of pass 2', () => {
  const tp = new TaskProgress([0.5, 1.5], 10, 0);
  const a = tp.update(0, { outTimeSeconds: 10, end: false }, 1000);
  assert.equal(a.fraction, 0.25);
  const b = tp.update(1, { outTimeSeconds: 5, end: false }, 2000);
  assert.equal(b.fraction, 0.25 + 0.375);
  // ETA from wall time: 2 s for 0.625 -> 1.2 s left
  assert.equal(b.etaSeconds, 1);
  const c = tp.update(1, { end: true }, 3000);
  assert.equal(c.fraction, 1);
  assert.equal(c.etaSeconds, 0);
});

test('fraction is clamped when ffmpeg writes past the probed duration', () => {
  const tp = new TaskProgress([1], 2, 0);
  assert.equal(tp.update(0, { outTimeSeconds: 2.2, end: false }, 1000).fraction, 1);
});
