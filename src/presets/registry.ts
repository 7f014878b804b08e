// The preset registry: built-in presets from templates/presets/*.json, the user's presets from
// config on top, `extends` resolved (deep merge, cycles refused), and every result validated.
// getPreset() hands the compiler a complete ResolvedPreset or a typed error that says what to fix.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { NommerError } from '../errors.js';
import {
  describeIssues,
  presetFileSchema,
  resolvedPresetSchema,
  type PresetFile,
  type ResolvedPreset,
} from './schema.js';

/** templates/presets of the package: found by walking up from this module (dist/src/presets when
 * compiled, src/presets under a TS runner) to the first directory that has it. */
export function builtinPresetsDir(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    const candidate = join(dir, 'templates', 'presets');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir)
      throw new NommerError('INTERNAL', `cannot find templates/presets above ${dirname(fileURLToPath(from))}`, {
        hint: 'the package is incomplete; reinstall media-nommer',
      });
    dir = parent;
  }
}

interface Source {
  /** Where the preset came from, for error messages. */
  origin: string;
  file: PresetFile;
}

function parseFile(name: string, raw: unknown, origin: string): Source {
  const r = presetFileSchema().safeParse(raw);
  if (!r.success)
    throw new NommerError('PRESET_INVALID', `preset "${name}" is invalid: ${describeIssues(r.error)}`, {
      hint: `fix it in ${origin}`,
    });
  if (r.data.name !== undefined && r.data.name !== name) {
    throw new NommerError('PRESET_INVALID', `preset "${name}" says its name is "${r.data.name}"`, {
      hint: `make them agree in ${origin}`,
    });
  }
  return { origin, file: r.data };
}

const builtinCache = new Map<string, Map<string, Source>>();

function loadBuiltins(dir: string): Map<string, Source> {
  const cached = builtinCache.get(dir);
  if (cached) return cached;
  const out = new Map<string, Source>();
  for (const f of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const name = f.slice(0, -'.json'.length);
    const origin = join(dir, f);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(origin, 'utf8'));
    } catch (err) {
      throw new NommerError('PRESET_INVALID', `preset file ${origin} is not valid JSON: ${(err as Error).message}`, {
        hint: 'fix the file',
      });
    }
    out.set(name, parseFile(name, raw, origin));
  }
  builtinCache.set(dir, out);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars replace; null replaces a section (video/audio)
 * and unsets a field inside one, so the default applies again. */
export function deepMerge(
  base: Record<string, unknown>,
  patch: Record<string, unknown>,
  depth = 0,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (v === null) {
      if (depth === 0) out[k] = null;
      else delete out[k];
    } else if (isPlainObject(v) && isPlainObject(out[k])) {
      out[k] = deepMerge(out[k] as Record<string, unknown>, v, depth + 1);
    } else {
      out[k] = structuredClone(v);
    }
  }
  return out;
}

export interface PresetRegistry {
  /** Names, built-ins and user presets, sorted. */
  names(): string[];
  listPresets(): ResolvedPreset[];
  getPreset(name: string): ResolvedPreset;
}

/** A registry over the built-ins and `user` (config's `presets`: name -> preset object). A user
 * preset may replace a built-in of the same name; `extends` of its own name means the built-in. */
export function createRegistry(user: Record<string, unknown> = {}, opts: { dir?: string } = {}): PresetRegistry {
  const builtins = loadBuiltins(opts.dir ?? builtinPresetsDir());
  const users = new Map<string, Source>();
  for (const [name, raw] of Object.entries(user)) {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name))
      throw new NommerError('PRESET_INVALID', `preset name "${name}" is not allowed`, {
        hint: 'use lower-case letters, digits, ".", "_" or "-" in config presets',
      });
    users.set(name, parseFile(name, raw, `config presets.${name}`));
  }
  const resolved = new Map<string, ResolvedPreset>();

  const names = () => [...new Set([...builtins.keys(), ...users.keys()])].sort();

  function unknown(name: string): NommerError {
    return new NommerError('PRESET_UNKNOWN', `unknown preset "${name}"`, {
      hint: `run \`nommer presets\` to list them; known: ${names().join(', ')}`,
    });
  }

  /** Merged, unvalidated fields of `name` in a layer ('user' sees users then builtins). */
  function merged(
    name: string,
    layer: 'user' | 'builtin',
    chain: string[],
  ): { fields: Record<string, unknown>; origin: string } {
    const src = (layer === 'user' ? users.get(name) : undefined) ?? builtins.get(name);
    const srcLayer = layer === 'user' && users.has(name) ? 'user' : 'builtin';
    if (!src) {
      if (chain.length === 0) throw unknown(name);
      const child = chain[chain.length - 1]!.split(':')[1];
      throw new NommerError('PRESET_INVALID', `preset "${child}" extends unknown preset "${name}"`, {
        hint: `known: ${names().join(', ')}`,
      });
    }
    const key = `${srcLayer}:${name}`;
    if (chain.includes(key)) {
      const path = [...chain, key].map((k) => k.split(':')[1]).join(' -> ');
      throw new NommerError('PRESET_INVALID', `presets extend each other in a cycle: ${path}`, {
        hint: `fix "extends" in ${src.origin}`,
      });
    }
    const { extends: parent, name: _n, ...own } = src.file;
    if (!parent) return { fields: own as Record<string, unknown>, origin: src.origin };
    // Parents are looked up with the user's presets first (a user's "webm" is the webm every
    // preset builds on), except that a user preset extending its own name builds on the built-in.
    const parentLayer = srcLayer === 'user' && parent === name ? 'builtin' : 'user';
    const base = merged(parent, parentLayer, [...chain, key]);
    const fields = deepMerge(base.fields, own as Record<string, unknown>);
    if (own.description === undefined)
      fields.description = `like ${parent}: ${String(base.fields.description ?? '')}`.slice(0, 300);
    return { fields, origin: src.origin };
  }

  function getPreset(name: string): ResolvedPreset {
    const hit = resolved.get(name);
    if (hit) return structuredClone(hit);
    const { fields, origin } = merged(name, 'user', []);
    const r = resolvedPresetSchema().safeParse({ ...fields, name });
    if (!r.success)
      throw new NommerError('PRESET_INVALID', `preset "${name}" is invalid: ${describeIssues(r.error)}`, {
        hint: `fix it in ${origin}`,
      });
    resolved.set(name, r.data);
    return structuredClone(r.data);
  }

  return { names, getPreset, listPresets: () => names().map(getPreset) };
}

// One registry per config `presets` object: feederd resolves presets on every submission, and
// reading and validating the preset files each time cost more than the rest of a request.
const registries = new WeakMap<object, PresetRegistry>();
const NO_USER_PRESETS = {};
function registryFor(user: Record<string, unknown>): PresetRegistry {
  let r = registries.get(user);
  if (!r) {
    r = createRegistry(user);
    registries.set(user, r);
  }
  return r;
}

/** All presets, resolved, sorted by name. */
export function listPresets(user: Record<string, unknown> = NO_USER_PRESETS): ResolvedPreset[] {
  return registryFor(user).listPresets();
}

/** One preset, resolved; PRESET_UNKNOWN names the known ones. */
export function getPreset(name: string, user: Record<string, unknown> = NO_USER_PRESETS): ResolvedPreset {
  return registryFor(user).getPreset(name);
}

/** Validate a preset that arrived resolved (e.g. in a task message): a worker trusts no input. */
export function parseResolvedPreset(raw: unknown): ResolvedPreset {
  const r = resolvedPresetSchema().safeParse(raw);
  const name = z.looseObject({ name: z.string() }).safeParse(raw).data?.name;
  if (!r.success)
    throw new NommerError(
      'PRESET_INVALID',
      `preset ${name !== undefined ? `"${name}" ` : ''}is invalid: ${describeIssues(r.error)}`,
      { hint: 'the task carries a preset this nommer cannot read; check both run the same version' },
    );
  return r.data;
}
