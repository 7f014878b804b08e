// Quality gates: a floor on a figure of an output's quality, from config or the preset
// (`quality.gates: { "ssim.p5": { "min": 0.93, "action": "fail" } }`). Config's gates travel in
// each measured video output's preset (withGateDefaults, where a job's presets are resolved), so a
// worker needs no config. They are checked once the output is measured, before it is committed
// (enforceGates): under a `fail` floor the output is discarded and its job fails with
// QUALITY_GATE, not retried (the same encode scores the same); under a `flag` floor it is kept
// and its record says so. The figures are over the frames measured (`sampling`). Pure.
import { NommerError } from '../errors.js';
import type { QualityGates, ResolvedPreset } from '../presets/schema.js';
import { type GateResult, type Metric, type OutputQuality, type Pool, scoreOf } from './types.js';

/**
 * `preset` with config's `gates` added (a gate the preset names itself wins), for an output that
 * is measured: moving video, not a package's (its rungs are not measured), measuring not off.
 */
export function withGateDefaults(preset: ResolvedPreset, gates: QualityGates | undefined): ResolvedPreset {
  if (!gates || Object.keys(gates).length === 0) return preset;
  if (!preset.video || preset.video.codec === 'webp' || preset.container === 'cmaf') return preset;
  if (preset.quality?.measure === false) return preset;
  return { ...preset, quality: { ...preset.quality, gates: { ...gates, ...preset.quality?.gates } } };
}

/** `ssim.p5` → { metric: 'ssim', pool: 'p5' }; `ssim` → { metric: 'ssim' } (the schema checked the text). */
function figure(text: string): { metric: Metric; pool?: Pool } {
  const [metric, pool] = text.split('.') as [Metric, Pool | undefined];
  return pool ? { metric, pool } : { metric };
}

/** Each gate against the output's quality (pure), in the order the gates are named. */
export function checkGates(q: OutputQuality, gates: QualityGates): GateResult[] {
  return Object.entries(gates).map(([name, g]) => {
    const value = q.skipped ? undefined : scoreOf(q, figure(name));
    const result = value === undefined || !Number.isFinite(value) ? 'unchecked' : value >= g.min ? 'passed' : 'flagged';
    return { figure: name, min: g.min, action: g.action, value: value ?? null, result };
  });
}

/**
 * The output's quality with its gates' results; throws QUALITY_GATE when it is under a `fail`
 * floor (`label` names the output). Without gates, the quality as it is.
 */
export function enforceGates(q: OutputQuality, gates: QualityGates | undefined, label: string): OutputQuality {
  if (!gates || Object.keys(gates).length === 0) return q;
  const results = checkGates(q, gates);
  const failed = results.find((r) => r.action === 'fail' && r.result === 'flagged');
  if (failed)
    throw new NommerError(
      'QUALITY_GATE',
      `${label} scored ${failed.figure} ${failed.value}, under its quality gate's floor of ${failed.min}`,
      {
        hint: `encode at a higher quality (a lower CRF, or --target ${failed.figure}=${failed.min}), or set the gate's action to "flag" in quality.gates to keep such outputs`,
      },
    );
  return { ...q, gates: results };
}
