// The API contract carries the whole of an output's quality record: `status --json` (and the TUI
// and dashboard, which read the same contract) lost quality.hdr and quality.sampling, because the
// contract's schema listed neither and the client's parse dropped them. The contract now takes
// the record's own schema (jobs/outputs.ts), so a field added to the record is in the contract.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { publicJob, type PublicJob } from '../src/api/contract.js';
import { qualityText } from '../src/api/format.js';
import type { OutputQuality } from '../src/quality/types.js';

/** A finished job with one output of this quality, as feederd answers it. */
function jobWith(quality: OutputQuality): PublicJob {
  return {
    id: 'j_1',
    state: 'succeeded',
    phase: null,
    progress: 1,
    fps: null,
    speed: null,
    eta: null,
    attempt: 1,
    maxAttempts: 3,
    priority: 0,
    input: '/in.mov',
    outputs: [{ preset: 'webm', uri: '/out.webm', bytes: 10, quality }],
    worker: null,
    error: null,
    notifyUrl: null,
    createdAt: '2026-12-01T00:00:00.000Z',
    startedAt: '2026-12-01T00:00:01.000Z',
    finishedAt: '2026-12-01T00:00:02.000Z',
  };
}

const HDR: OutputQuality['hdr'] = {
  source: 'pq',
  mode: 'kept',
  transfer: 'pq',
  bitDepth: 10,
  masteringDisplay: true,
  contentLight: true,
  notCarried: ['Dolby Vision'],
};

const POOLED: OutputQuality['pooled'] = {
  frames: 18,
  ssim: { mean: 0.98, harmonic: 0.979, p1: 0.9, p5: 0.93, min: 0.89, worst: [{ frame: 5, time: 0.2, score: 0.89 }] },
  psnr: { mean: 40.5, harmonic: 40.2, p1: 33, p5: 35, min: 32.5, worst: [{ frame: 5, time: 0.2, score: 32.5 }] },
};

test('a job read through the contract keeps every field of its outputs quality record (hdr, sampling, pooled, gates)', () => {
  const quality: OutputQuality = {
    ssim: 0.98,
    psnr: 40.1,
    seconds: 1.2,
    sampling: { every: 11, first: 5 },
    hdr: HDR,
    pooled: POOLED,
    gates: [{ figure: 'ssim.p5', min: 0.95, action: 'flag', value: 0.93, result: 'flagged' }],
  };
  const read = publicJob().parse(JSON.parse(JSON.stringify(jobWith(quality))));
  assert.deepEqual(read.outputs[0]!.quality, quality);
  // What status, the TUI and the dashboard print of it: each mean with its 5th percentile, what
  // was kept of an HDR source, and a gate it fell under.
  assert.equal(
    qualityText(read.outputs[0]!.quality!),
    'SSIM 0.9800 (p5 0.9300) · PSNR 40.10 dB (p5 35.00) · HDR10 kept (10-bit PQ, mastering display, content light); Dolby Vision not carried · FLAGGED ssim.p5 0.93 < 0.95',
  );
  // An encoder's record: its PSNR over all planes, the spread of its frames' luma, and whose it is.
  const byEncoder = publicJob().parse(
    JSON.parse(
      JSON.stringify(
        jobWith({
          psnr: 36.47,
          source: 'encoder',
          sampling: 'full',
          pooledLuma: { frames: 48, psnrY: POOLED!.psnr },
          seconds: 0,
        }),
      ),
    ),
  );
  assert.equal(qualityText(byEncoder.outputs[0]!.quality!), 'PSNR 36.47 dB (luma p5 35.00), by the encoder');
});
