// What the encode benchmarks share: the preset compiler's exact argv for a clip, and the CPU time
// of an ffmpeg run (user+sys of all its threads, from /usr/bin/time: far steadier than wall time
// on a loaded machine).
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import type { ProbeInfo } from '../src/ffmpeg/types.js';
import { compileJob } from '../src/presets/compile.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { getPreset } from '../src/presets/registry.js';

const exec = promisify(execFile);

/** Runs ffmpeg (its own output only), throwing with its last words when it fails. */
export function ffmpeg(args: string[]): string {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-y', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr.slice(-2000)}`);
  return r.stderr;
}

/** Runs ffmpeg under /usr/bin/time: its user+sys CPU-seconds (all its threads) and wall seconds. */
export async function timedFfmpeg(args: string[], timeFile: string): Promise<{ cpuS: number; wallS: number }> {
  const ff = ['ffmpeg', '-hide_banner', '-nostdin', '-v', 'error', '-y', ...args];
  await exec('/usr/bin/time', ['-f', '%U %S %e', '-o', timeFile, ...ff], { maxBuffer: 64 << 20 });
  const [u, s, e] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { cpuS: u! + s!, wallS: e! };
}

/** The preset compiler's video-only argv for `preset` (with `--set`-style overrides) on this clip. */
export function presetArgv(o: {
  preset: string;
  overrides?: string[];
  encoder: string;
  probe: ProbeInfo;
  input: string;
  out: string;
  crf?: number;
}): string[] {
  const preset = { ...applyOverrides(getPreset(o.preset), o.overrides ?? []), audio: null };
  const job = compileJob({
    input: o.input,
    probe: o.probe,
    outputs: [{ preset, path: o.out, ...(o.crf !== undefined ? { crf: o.crf } : {}) }],
    encoders: new Set([o.encoder]),
    passlogDir: tmpdir(),
  });
  return job.commands[0]!.args;
}
