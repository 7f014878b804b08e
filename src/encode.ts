// One encode, start to finish, on local files: probe -> compile presets to ffmpeg runs -> run them
// into temporary names beside the destinations -> rename into place only when all succeeded.
// `nommer encode` calls this in the foreground; a worker calls it for each task it leases.
import { mkdtemp, rename, rm, stat, access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { NommerError, asNommerError } from './errors.js';
import { ffmpegCapabilities, type FfmpegInstall } from './ffmpeg/locate.js';
import { ffmpegInputArg, probeInput } from './ffmpeg/probe.js';
import { TaskProgress } from './ffmpeg/progress.js';
import { runFfmpeg } from './ffmpeg/run.js';
import type { ProbeInfo } from './ffmpeg/types.js';
import type { Progress } from './jobs/types.js';
import { compileJob } from './presets/compile.js';
import type { ResolvedPreset } from './presets/schema.js';
import { tempPathBeside } from './paths.js';

export interface EncodeOutput {
  preset: ResolvedPreset;
  /** Local destination path. */
  path: string;
}

export interface EncodeRequest {
  ffmpeg: FfmpegInstall;
  /** Local file path (or an http(s) URL ffmpeg reads directly). */
  input: string;
  outputs: EncodeOutput[];
  /** Overwrite destinations that exist. Never the input itself. */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Called when the probe is done, before encoding starts. */
  onProbe?: (p: ProbeInfo) => void;
  /** Called with each ffmpeg pid. */
  onSpawn?: (pid: number) => void;
  /** Give only the argument arrays that would run; run nothing. */
  dryRun?: boolean;
  /** Now, for progress ETA; tests pass their own clock. */
  now?: () => number;
  /**
   * Names the temporary files (default: random). A worker passes its task id, so a later
   * delivery of a task whose worker was killed reuses, and so removes, the partial file.
   */
  tempTag?: string;
}

export interface EncodeResult {
  probe: ProbeInfo;
  outputs: Array<{ path: string; bytes: number }>;
  /** The ffmpeg argument arrays, ffmpeg binary first, as they ran (with final paths). */
  commands: string[][];
}

function samePath(a: string, b: string): boolean {
  return resolve(a) === resolve(b);
}

async function checkDestinations(input: string, outputs: EncodeOutput[], force: boolean): Promise<void> {
  const seen = new Set<string>();
  for (const o of outputs) {
    const p = resolve(o.path);
    if (!/^https?:\/\//i.test(input) && samePath(input, p)) throw new NommerError('OUTPUT_EXISTS', `output ${o.path} is the input itself`, { hint: 'choose another output path with -o' });
    if (seen.has(p)) throw new NommerError('USAGE', `two outputs write to the same file: ${o.path}`, { hint: 'give each output its own -o path' });
    seen.add(p);
    const exists = await stat(p).then((s) => s, () => undefined);
    if (exists?.isDirectory()) throw new NommerError('OUTPUT_UNWRITABLE', `output ${o.path} is a directory`, { hint: 'give a file path with -o' });
    if (exists && !force) throw new NommerError('OUTPUT_EXISTS', `output exists: ${o.path}`, { hint: 'use --force to overwrite, or choose another path with -o' });
    try {
      await access(dirname(p), constants.W_OK);
    } catch {
      throw new NommerError('OUTPUT_UNWRITABLE', `cannot write to ${dirname(p)}`, { hint: 'the directory must exist and be writable' });
    }
  }
}


export async function encode(req: EncodeRequest): Promise<EncodeResult> {
  const now = req.now ?? Date.now;
  const force = req.force ?? false;
  const probe = await probeInput(req.ffmpeg.ffprobe, req.input, { signal: req.signal });
  req.onProbe?.(probe);
  await checkDestinations(req.input, req.outputs, force);
  const caps = await ffmpegCapabilities(req.ffmpeg.ffmpeg);
  const passlogDir = await mkdtemp(join(tmpdir(), 'nommer-pass-'));
  const temps = req.outputs.map((o) => tempPathBeside(o.path, req.tempTag));
  try {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    const compiled = compileJob({
      input: ffmpegInputArg(req.input),
      probe,
      outputs: req.outputs.map((o, i) => ({ preset: o.preset, path: temps[i]! })),
      encoders: caps.encoders,
      passlogDir,
    });
    const commands = compiled.commands.map((c) => [req.ffmpeg.ffmpeg, ...c.args]);
    const shown = commands.map((argv) => argv.map((a) => {
      const i = temps.indexOf(a);
      return i >= 0 ? resolve(req.outputs[i]!.path) : a;
    }));
    if (req.dryRun) return { probe, outputs: [], commands: shown };
    const progress = new TaskProgress(compiled.commands.map((c) => c.weight), probe.duration, now());
    for (const [i, c] of compiled.commands.entries()) {
      await runFfmpeg(req.ffmpeg.ffmpeg, c.args, {
        signal: req.signal,
        onSpawn: req.onSpawn,
        onProgress: (b) => req.onProgress?.(progress.update(i, b, now())),
      });
    }
    const outputs: Array<{ path: string; bytes: number }> = [];
    for (const [i, o] of req.outputs.entries()) {
      const st = await stat(temps[i]!).catch(() => undefined);
      if (!st || st.size === 0) throw new NommerError('FFMPEG_FAILED', `ffmpeg wrote no data for ${o.path}`, { hint: 'the input may have no stream this preset can use' });
      outputs.push({ path: resolve(o.path), bytes: st.size });
    }
    for (const [i, o] of req.outputs.entries()) await rename(temps[i]!, resolve(o.path));
    req.onProgress?.({ fraction: 1, etaSeconds: 0 });
    return { probe, outputs, commands: shown };
  } catch (err) {
    throw asNommerError(err);
  } finally {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    await rm(passlogDir, { recursive: true, force: true });
  }
}
