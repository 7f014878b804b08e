// Turns what a user typed (input, preset names, -o paths, --set overrides) into resolved outputs:
// each a fully resolved preset and a destination. Shared by `encode` and `submit`.
import { basename, dirname, extname, join, resolve } from 'node:path';
import { NommerError } from './errors.js';
import { hasScheme } from './uri.js';
import { applyOverrides } from './presets/overrides.js';
import { getPreset } from './presets/registry.js';
import { formatTarget, parseTarget } from './quality/types.js';
import type { QualityGates, ResolvedPreset } from './presets/schema.js';
import { withGateDefaults } from './quality/gates.js';

export interface OutputSpec {
  preset: ResolvedPreset;
  /** Destination: a local path (absolute) or a URI (s3://...). */
  uri: string;
}

export interface JobSpecInput {
  input: string;
  presets: string[];
  outputs: string[];
  sets: string[];
  userPresets: Record<string, Record<string, unknown>>;
  defaultPreset: string;
  /** Config's quality.gates, added to each measured video output's preset (quality/gates.ts). */
  gates?: QualityGates;
}

/** Default destination: beside the input, same stem, the preset's extension; never the input itself. */
export function defaultOutputFor(input: string, preset: ResolvedPreset, taken: Set<string>): string {
  const local = hasScheme(input) ? join(process.cwd(), basename(new URL(input).pathname) || 'output') : resolve(input);
  const dir = hasScheme(input) ? process.cwd() : dirname(local);
  const stem = basename(local, extname(local));
  // A package is a directory: <input name>-<preset>/ beside the input.
  if (preset.container === 'cmaf') return join(dir, `${stem}-${preset.name}`);
  const ext = String(preset.extension).replace(/^\./, '');
  let candidate = join(dir, `${stem}.${ext}`);
  if (candidate === local || taken.has(candidate)) candidate = join(dir, `${stem}.${preset.name}.${ext}`);
  return candidate;
}

export function resolveOutputs(spec: JobSpecInput): OutputSpec[] {
  const names = spec.presets.length ? spec.presets : [spec.defaultPreset];
  if (spec.outputs.length > names.length) {
    throw new NommerError('USAGE', `${spec.outputs.length} outputs (-o) for ${names.length} preset(s)`, {
      hint: 'give one --preset per -o, in the same order',
    });
  }
  const taken = new Set<string>();
  return names.map((name, i) => {
    const preset = withGateDefaults(
      spec.sets.length
        ? applyOverrides(getPreset(name, spec.userPresets), spec.sets)
        : getPreset(name, spec.userPresets),
      spec.gates,
    );
    const given = spec.outputs[i];
    if (given && hasScheme(given) && !/^(file|s3):\/\//i.test(given)) {
      // Only file:// and s3:// can be written to; anything else (http, ftp...) would be taken for
      // a relative path by the local storage and written into the worker's working directory.
      throw new NommerError(
        'USAGE',
        `cannot write an output to ${given}: destinations are local paths, file:// or s3:// URIs`,
        { hint: 'choose a local path or an s3:// URI with -o' },
      );
    }
    const uri = given ? (hasScheme(given) ? given : resolve(given)) : defaultOutputFor(spec.input, preset, taken);
    taken.add(uri);
    return { preset, uri };
  });
}

/**
 * The preset overrides that say what a user asked of quality: `--target ssim=0.985` (checked
 * here, so a typo is a USAGE error before anything runs), `--no-quality`, and config's
 * quality.measure. They travel with the job as overrides, so a worker needs nothing else.
 */
export function qualitySets(o: { target?: string; measure?: boolean; configMeasure?: boolean }): string[] {
  const sets: string[] = [];
  if (o.target !== undefined) {
    if (o.measure === false)
      throw new NommerError('USAGE', '--target needs measuring: it cannot go with --no-quality', {
        hint: 'drop --no-quality to aim at a quality target',
      });
    // Measuring on even where config turns it off: a target cannot be checked without it.
    sets.push(`quality.target=${formatTarget(parseTarget(o.target))}`, 'quality.measure=true');
  } else if (o.measure === false || o.configMeasure === false) sets.push('quality.measure=false');
  return sets;
}

/** `--loudness`'s range, LUFS: what the preset schema takes (audio.loudness.integrated). */
const LOUDNESS_RANGE = { min: -70, max: -5 };

/**
 * `--loudness LUFS` as a preset override (audio.loudness.integrated; the true peak ceiling is the
 * preset's, else -1 dBTP). Checked here, so `--loudness 5` is a USAGE error before anything runs.
 */
export function loudnessSets(loudness: string | undefined): string[] {
  if (loudness === undefined) return [];
  const text = loudness.trim().replace(/\s*LUFS$/i, '');
  const n = /^[-+]?\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= LOUDNESS_RANGE.min && n <= LOUDNESS_RANGE.max))
    throw new NommerError(
      'USAGE',
      `--loudness takes an integrated loudness in LUFS from ${LOUDNESS_RANGE.min} to ${LOUDNESS_RANGE.max}, got ${JSON.stringify(loudness)}`,
      {
        hint: 'loudness is negative: e.g. --loudness -16 (streaming) or --loudness -23 (EBU R128 broadcast); the true peak ceiling is set with -s audio.loudness.truePeak=-2 (at most 0)',
      },
    );
  return [`audio.loudness.integrated=${n}`];
}
