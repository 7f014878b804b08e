// The Bjøntegaard delta rate used by bench/frontier: known answers on constructed curves.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type RdPoint, bdRate, ssimDb } from '../bench/bd-rate.js';

const curve: RdPoint[] = [
  { kbps: 300, db: 30.1 },
  { kbps: 520, db: 33.0 },
  { kbps: 900, db: 35.6 },
  { kbps: 1600, db: 38.2 },
];

describe('bdRate', () => {
  it('is zero for the same curve', () => {
    assert.ok(Math.abs(bdRate(curve, curve)!) < 1e-9);
  });

  it('is +10% when every rate is 1.1 times, and -10% the other way round in rate ratio', () => {
    const more = curve.map((p) => ({ ...p, kbps: p.kbps * 1.1 }));
    assert.ok(Math.abs(bdRate(curve, more)! - 10) < 1e-6);
    assert.ok(Math.abs(bdRate(more, curve)! - (1 / 1.1 - 1) * 100) < 1e-6);
  });

  it('measures only over the shared quality range, and says when there is none', () => {
    const shifted = curve.map((p) => ({ ...p, db: p.db + 1 }));
    // Same bits for 1 dB more quality: fewer bits at equal quality.
    assert.ok(bdRate(curve, shifted)! < 0);
    const apart = curve.map((p) => ({ ...p, db: p.db + 20 }));
    assert.equal(bdRate(curve, apart), undefined);
  });

  it('puts SSIM on a dB scale', () => {
    assert.ok(Math.abs(ssimDb(0.99) - 20) < 1e-9);
  });
});
