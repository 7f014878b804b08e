// Issue 14, the search's cost: a search settles on a CRF its probes' curve predicts (no probe
// there) only when the curve is trusted, a correction reads the samples' curve at an unprobed
// CRF, probes measure their target's metric alone, and the samples of a whole local file are
// cut by seeking to each window (the same pictures a `select` over the whole file gives).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aimOf, correctedCrf, nextStep, scoreAt } from '../src/quality/search.js';
import { inWindow } from '../src/quality/types.js';
const target = { metric: 'ssim' as const, value: 0.95 };
/** A curve exactly linear on the search's scale: 1 - SSIM doubles every 10 CRF steps. */
const curve = (crf: number) => 1 - 0.001 * 2 ** (crf / 10);

test('two probes of a measured slope near the aim settle on the predicted CRF without probing it', () => {
  // 1 - 0.001 * 2^(c/10) crosses the aim (0.9515) at c = 56.0: probes at 45 and 55 are on the
  // good side, 55 scores 0.9548, within 0.67 of a window (0.009) of the aim.
  const tried = [
    { crf: 45, score: curve(45) },
    { crf: 55, score: curve(55) },
  ];
  const step = nextStep(target, tried, 40);
  assert.ok('done' in step, JSON.stringify(step));
  assert.equal(step.done, 56);
  assert.ok(step.predicted !== undefined && Math.abs(step.predicted - curve(56)) < 1e-9, JSON.stringify(step));
  assert.ok(inWindow(target, curve(step.done)));
  // One probe (a typical slope, not a measured one) is never trusted: the next CRF is probed.
  assert.ok('next' in nextStep(target, tried.slice(0, 1), 40));
  // A measured slope, but the nearest probe far from the aim (0.9942 at 20, 0.9840 at 30): probe.
  const far = nextStep(
    target,
    [
      { crf: 20, score: curve(20) },
      { crf: 30, score: curve(30) },
    ],
    20,
  );
  assert.ok('next' in far, JSON.stringify(far));
  // Bracketing probes are interpolated: 52 (good) and 58 (bad, 0.0072 below the aim) put it at 56.
  const bracket = nextStep(
    target,
    [
      { crf: 52, score: curve(52) },
      { crf: 58, score: curve(58) },
    ],
    52,
  );
  assert.ok('done' in bracket && bracket.done === 56 && bracket.predicted !== undefined, JSON.stringify(bracket));
  // Brackets whose nearer probe is more than 1.5 windows from the aim are probed between.
  const wide = nextStep(
    target,
    [
      { crf: 50, score: curve(50) },
      { crf: 62, score: curve(62) },
    ],
    50,
  );
  assert.ok('next' in wide, JSON.stringify(wide));
  // The range's ends are probed, never predicted: out of reach must be seen, not guessed.
  const flat = (crf: number) => 0.99 - crf * 0.00001;
  const high = nextStep(
    target,
    [
      { crf: 55, score: flat(55) },
      { crf: 61, score: flat(61) },
    ],
    55,
  );
  assert.ok('next' in high && high.next === 63, JSON.stringify(high));
  assert.ok(aimOf(target) > target.value);
});

test("the samples' curve is read between and past its probes, and a correction shifts it at the final's unprobed CRF", () => {
  const probes = [
    { crf: 40, score: curve(40) },
    { crf: 50, score: curve(50) },
  ];
  for (const c of [40, 44, 50, 55]) assert.ok(Math.abs(scoreAt('ssim', probes, c) - curve(c)) < 1e-9, `at ${c}`);
  // The final at 56 (not probed) scored 0.004 below its samples' curve: the correction moves to
  // the CRF where the shifted curve meets the aim, lower than 56.
  const next = correctedCrf(target, probes, [{ crf: 56, score: curve(56) - 0.004 }]);
  assert.ok(next !== undefined && next < 56 && next >= 52, `corrected to ${next}`);
  // Had the final scored as its samples predicted, a correction would have nowhere to go but its own CRF.
  assert.equal(correctedCrf(target, probes, [{ crf: 56, score: curve(56) }]), undefined);
});
