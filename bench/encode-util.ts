// What the encode benchmarks share: the preset compiler's exact argv for a clip, and the CPU time
// of an ffmpeg run (user+sys of all its threads, from /usr/bin/time: far steadier than wall time
// on a loaded machine).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { ProbeInfo } from '../src/ffmpeg/types.js';
import { compileJob } from '../src/presets/compile.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { getPreset } from '../src/presets/registry.js';

/** Runs ffmpeg (its own output only), throwing with its last words when it fails. */
export function ffmpeg(args: string[]): string {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-y', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr.slice(-2000)}`);
  return r.stderr;
}

/**
 * Runs a command under /usr/bin/time, stdin closed (ffmpeg reads a keyboard from an open one):
 * user+sys CPU-seconds of it and every child it waited for (all their threads), and wall seconds.
 */
export async function timed(
  argv: string[],
  timeFile: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ cpuS: number; wallS: number }> {
  const child = spawn('/usr/bin/time', ['-f', '%U %S %e', '-o', timeFile, ...argv], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}: ${stderr}`);
  const [u, s, e] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { cpuS: u! + s!, wallS: e! };
}

/** Runs ffmpeg under /usr/bin/time (see timed). */
export function timedFfmpeg(args: string[], timeFile: string): Promise<{ cpuS: number; wallS: number }> {
  return timed(['ffmpeg', '-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], timeFile);
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

/**
 * A 720p24 real-looking clip (fractal zoom with grain) with a tone, as an H.264 + AAC mezzanine;
 * `scale` picks where the zoom starts, so that clips of one batch differ.
 */
export function makeMezzanine(path: string, seconds: number, scale = 3): void {
  const graph = `mandelbrot=size=1280x720:rate=24:start_scale=${scale},noise=alls=1:allf=t,format=yuv420p`;
  ffmpeg([
    ...['-loglevel', 'error', '-f', 'lavfi', '-i', graph],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(seconds)],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '12', '-c:a', 'aac', path],
  ]);
}
