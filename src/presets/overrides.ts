// Per-job overrides of a preset's settings: `video.crf=30`, `audio.bitrate=96k`, `audio=none`,
// and the fields of an object setting: `audio.loudness.integrated=-16`, `audio.loudness=none`.
// Keys are checked against the preset schema and values coerced to the field's type (number,
// boolean, enum, bitrate), never passed through as text — so an override cannot add an ffmpeg
// option (`video.crf=30 -f lavfi`, `audio.bitrate=-i`) however it is spelled.
// `audio.loudness.*` on a preset without audio is skipped, not an error: `--loudness` sets it on
// every output of a job, and a poster beside a webm has no audio to normalize.
import * as z from 'zod';
import { NommerError } from '../errors.js';
import {
  describeIssues,
  OVERRIDABLE,
  OVERRIDABLE_OBJECTS,
  resolvedPresetSchema,
  type ResolvedPreset,
} from './schema.js';

type Section = keyof ReturnType<typeof OVERRIDABLE>;
/** The sections an override may name, in the schema's order. */
const sections = (): Section[] => Object.keys(OVERRIDABLE()) as Section[];

function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  while (cur instanceof z.ZodOptional || cur instanceof z.ZodDefault || cur instanceof z.ZodNullable)
    cur = cur.def.innerType as z.ZodType;
  return cur;
}

function literals(s: z.ZodType): unknown[] | undefined {
  if (!(s instanceof z.ZodUnion)) return undefined;
  const out: unknown[] = [];
  for (const o of s.options as z.ZodType[]) {
    if (!(o instanceof z.ZodLiteral)) return undefined;
    out.push(...o.values);
  }
  return out;
}

/** What a field takes, in words: "a whole number from 0 to 63", "one of: bwdif, yadif". */
export function describeField(schema: z.ZodType): string {
  const s = unwrap(schema);
  if (s instanceof z.ZodNumber) {
    const whole = s.isInt ? 'a whole number' : 'a number';
    const lo = s.minValue,
      hi = s.maxValue;
    const finite = (n: number | null) => n !== null && Number.isFinite(n) && Math.abs(n) < Number.MAX_SAFE_INTEGER;
    if (finite(lo) && finite(hi)) return `${whole} from ${lo} to ${hi}`;
    if (finite(lo)) return `${whole} ≥ ${lo}`;
    return whole;
  }
  if (s instanceof z.ZodBoolean) return 'true or false';
  if (s instanceof z.ZodEnum) return `one of: ${(s.options as string[]).join(', ')}`;
  const lits = literals(s);
  if (lits) return `one of: ${lits.join(', ')}`;
  if (s instanceof z.ZodString && s === unwrap(OVERRIDABLE().quality.target!))
    return 'metric=value, e.g. ssim=0.985, ssim.p5=0.95 or psnr=40';
  if (s instanceof z.ZodString) return 'a bitrate like 96k, 1.5M or 64000';
  return 'a value of the right type';
}

// No sign: nothing a user passes may start with '-', but a number where the field takes negatives
// (a loudness in LUFS): it becomes a number, never text in an argv.
const NUMBER_RE = /^\d+(\.\d+)?$/;
const SIGNED_NUMBER_RE = /^-?\d+(\.\d+)?$/;

/** The string as the field's type, or undefined when it is not one. */
function coerce(schema: z.ZodType, text: string): unknown {
  const s = unwrap(schema);
  if (s instanceof z.ZodNumber)
    return (s.minValue !== null && s.minValue < 0 ? SIGNED_NUMBER_RE : NUMBER_RE).test(text) ? Number(text) : undefined;
  if (s instanceof z.ZodBoolean)
    return ({ true: true, false: false, yes: true, no: false, on: true, off: false } as Record<string, boolean>)[
      text.toLowerCase()
    ];
  const lits = literals(s);
  if (lits) return lits.find((l) => String(l) === text);
  if (s instanceof z.ZodEnum || s instanceof z.ZodString) return text;
  return undefined;
}

function invalid(message: string, hint: string): NommerError {
  return new NommerError('OVERRIDE_INVALID', message, { hint });
}

function validKeys(section: Section): string {
  return Object.keys(OVERRIDABLE()[section])
    .map((k) => `${section}.${k}`)
    .join(', ');
}

/** The preset with `key=value` overrides applied, validated as a whole; OVERRIDE_INVALID names the
 * offending key and what it takes. */
export function applyOverrides(preset: ResolvedPreset, overrides: readonly string[]): ResolvedPreset {
  const out = structuredClone(preset) as Record<string, unknown>;
  for (const item of overrides) {
    const eq = item.indexOf('=');
    if (eq <= 0)
      throw invalid(
        `override ${JSON.stringify(item)} is not key=value`,
        `e.g. video.crf=30 or audio.bitrate=96k; keys: ${sections().map(validKeys).join(', ')}`,
      );
    const key = item.slice(0, eq).trim();
    const text = item.slice(eq + 1);
    const [section, field, ...rest] = key.split('.');
    if (section === 'audio' && field !== undefined && Object.hasOwn(OVERRIDABLE_OBJECTS().audio, field)) {
      setObjectField(out, preset.name, field as keyof ReturnType<typeof OVERRIDABLE_OBJECTS>['audio'], rest, text);
      continue;
    }
    if (!sections().includes(section as Section) || rest.length > 0) {
      throw invalid(
        `unknown override key ${JSON.stringify(key)}`,
        `keys are ${sections()
          .map((s) => `${s}.<setting>`)
          .join(' or ')}, or ${sections()
          .map((s) => `${s}=none`)
          .join(' / ')}`,
      );
    }
    const sec = section as Section;
    // A preset need not say anything about quality: the section exists as soon as it is set.
    if (sec === 'quality' && !out.quality) out.quality = {};
    if (field === undefined) {
      if (text !== 'none')
        throw invalid(
          `${JSON.stringify(key)} takes only "none" (drop the ${sec} stream), got ${JSON.stringify(text)}`,
          `to change a setting use ${sec}.<setting>=value; keys: ${validKeys(sec)}`,
        );
      out[sec] = null;
      continue;
    }
    const schema = OVERRIDABLE()[sec][field];
    if (!Object.hasOwn(OVERRIDABLE()[sec], field) || !schema)
      throw invalid(`unknown override key ${JSON.stringify(key)}`, `valid ${sec} keys: ${validKeys(sec)}`);
    const target = out[sec] as Record<string, unknown> | null;
    if (!target)
      throw invalid(
        `preset ${JSON.stringify(preset.name)} has no ${sec}, so ${JSON.stringify(key)} cannot be set`,
        `its settings are ${sections()
          .filter((s) => out[s])
          .map(validKeys)
          .join(', ')}`,
      );
    const value = coerce(schema, text);
    const checked = value === undefined ? undefined : schema.safeParse(value);
    if (!checked?.success) {
      throw invalid(
        `${key} must be ${describeField(schema)}, got ${JSON.stringify(text)}`,
        checked && !checked.success
          ? checked.error.issues.map((i) => i.message).join('; ')
          : `e.g. ${key}=${example(schema)}`,
      );
    }
    target[field] = checked.data;
  }
  const r = resolvedPresetSchema().safeParse(out);
  if (!r.success)
    throw invalid(
      `overrides make preset ${JSON.stringify(preset.name)} invalid: ${describeIssues(r.error)}`,
      `overrides given: ${overrides.join(' ')}`,
    );
  return r.data;
}

/** `audio.<object>.<field>=value` or `audio.<object>=none`, into `out` (checked whole after). */
function setObjectField(
  out: Record<string, unknown>,
  presetName: string,
  name: keyof ReturnType<typeof OVERRIDABLE_OBJECTS>['audio'],
  rest: readonly string[],
  text: string,
): void {
  const key = ['audio', name, ...rest].join('.');
  const shape = OVERRIDABLE_OBJECTS().audio[name].shape;
  const fields = Object.keys(shape)
    .map((f) => `audio.${name}.${f}`)
    .join(', ');
  const audio = out.audio as Record<string, unknown> | null;
  if (rest.length === 0) {
    if (text !== 'none')
      throw invalid(
        `${JSON.stringify(key)} takes only "none" (no ${name}), got ${JSON.stringify(text)}`,
        `to set it use ${fields}`,
      );
    if (audio) delete audio[name];
    return;
  }
  const field = rest[0]!;
  const schema = rest.length === 1 && Object.hasOwn(shape, field) ? shape[field as keyof typeof shape] : undefined;
  if (!schema)
    throw invalid(`unknown override key ${JSON.stringify(key)}`, `valid keys: ${fields}, or audio.${name}=none`);
  if (!audio) return; // no audio: nothing to set (see the header)
  const value = coerce(schema, text);
  const checked = value === undefined ? undefined : schema.safeParse(value);
  if (!checked?.success)
    throw invalid(
      `${key} must be ${describeField(schema)}, got ${JSON.stringify(text)}`,
      `e.g. ${key}=${example(schema)} (preset ${JSON.stringify(presetName)})`,
    );
  audio[name] = { ...((audio[name] as Record<string, unknown> | undefined) ?? {}), [field]: checked.data };
}

function example(schema: z.ZodType): string {
  const s = unwrap(schema);
  if (s instanceof z.ZodNumber)
    return String(
      s.minValue !== null && Number.isFinite(s.minValue) ? Math.max(s.minValue, Math.min(30, s.maxValue ?? 30)) : 30,
    );
  if (s instanceof z.ZodBoolean) return 'true';
  if (s instanceof z.ZodEnum) return String((s.options as string[])[0]);
  const lits = literals(s);
  if (lits) return String(lits[0]);
  return '96k';
}
