// One encode, start to finish, on local files: probe -> compile presets to ffmpeg runs -> run them
// into paths the Storage port prepared (private temp names) -> commit all outputs or none.
// `nommer encode` calls encode(); a worker calls encodeInto() with outputs it prepared itself, so
// it can check its task is still current between the encode and the commit.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NommerError, asNommerError } from './errors.js';
import { ffmpegCapabilities, type FfmpegInstall } from './ffmpeg/locate.js';
import { ffmpegInputArg, probeInput } from './ffmpeg/probe.js';
import { TaskProgress } from './ffmpeg/progress.js';
import { runFfmpeg } from './ffmpeg/run.js';
import type { ProbeInfo } from './ffmpeg/types.js';
import type { Progress } from './jobs/types.js';
import { compileJob } from './presets/compile.js';
import type { ResolvedPreset } from './presets/schema.js';
import { commitAll, discardAll, type PreparedOutput, type Storage } from './ports/storage.js';
import { isHttpUri, isLocalUri, localPathOf } from './uri.js';

export interface EncodeOutput {
  preset: ResolvedPreset;
  /** Destination: a local path, or a URI the storage handles. */
  path: string;
}

export interface EncodeRequest {
  ffmpeg: FfmpegInstall;
  /** Where outputs are prepared and committed (local files for `nommer encode`). */
  storage: Storage;
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
  /** Names the temporary files (with a random part: two deliveries of a task never share one). */
  tempTag?: string;
  /** Scratch dir for outputs that are not local files. */
  scratchDir?: string;
}

export interface IntoOutput {
  preset: ResolvedPreset;
  /** Where ffmpeg writes (a prepared output's path). */
  path: string;
  /** The destination, shown in dry runs and checked against the input. */
  dest: string;
}

export interface EncodeIntoRequest
  extends Omit<EncodeRequest, 'storage' | 'outputs' | 'force' | 'tempTag' | 'scratchDir'> {
  outputs: IntoOutput[];
}

export interface EncodeResult {
  probe: ProbeInfo;
  outputs: Array<{ path: string; bytes: number }>;
  /** The ffmpeg argument arrays, ffmpeg binary first, as they ran (with final paths). */
  commands: string[][];
}

/** The job's own rules for its outputs: never the input itself, never two outputs on one file. */
export function checkOutputsOfJob(input: string, dests: readonly string[]): void {
  const seen = new Set<string>();
  for (const d of dests) {
    const key = isLocalUri(d) ? resolve(localPathOf(d)) : d;
    if (!isHttpUri(input) && isLocalUri(input) && isLocalUri(d) && resolve(localPathOf(input)) === key) {
      throw new NommerError('OUTPUT_EXISTS', `output ${d} is the input itself`, {
        hint: 'choose another output path with -o',
      });
    }
    if (seen.has(key))
      throw new NommerError('USAGE', `two outputs write to the same file: ${d}`, {
        hint: 'give each output its own -o path',
      });
    seen.add(key);
  }
}

/** Probe, check, prepare every output, encode, and commit them all or none. */
export async function encode(req: EncodeRequest): Promise<EncodeResult> {
  const force = req.force ?? false;
  checkOutputsOfJob(
    req.input,
    req.outputs.map((o) => o.path),
  );
  for (const o of req.outputs) await req.storage.checkOutput(o.path, { overwrite: force });
  if (req.dryRun) {
    return encodeInto({ ...req, outputs: req.outputs.map((o) => ({ preset: o.preset, path: o.path, dest: o.path })) });
  }
  const scratchDir = req.scratchDir ?? tmpdir();
  const prepared: PreparedOutput[] = [];
  try {
    for (const o of req.outputs)
      prepared.push(await req.storage.prepareOutput(o.path, { overwrite: force, tag: req.tempTag, scratchDir }));
    const r = await encodeInto({
      ...req,
      outputs: req.outputs.map((o, i) => ({ preset: o.preset, path: prepared[i]!.path, dest: o.path })),
    });
    const stored = await commitAll(prepared, { signal: req.signal });
    req.onProgress?.({ fraction: 1, etaSeconds: 0 });
    return {
      ...r,
      outputs: stored.map((s, i) => ({
        path: isLocalUri(s.uri) ? resolve(localPathOf(s.uri)) : s.uri,
        bytes: r.outputs[i]!.bytes,
      })),
    };
  } catch (err) {
    await discardAll(prepared);
    throw asNommerError(err);
  }
}

/**
 * Probe and run ffmpeg into the given paths; nothing is committed. Each output must be non-empty.
 * The caller owns the paths (discard them on failure).
 */
export async function encodeInto(req: EncodeIntoRequest): Promise<EncodeResult> {
  const now = req.now ?? Date.now;
  const probe = await probeInput(req.ffmpeg.ffprobe, req.input, { signal: req.signal });
  req.onProbe?.(probe);
  const caps = await ffmpegCapabilities(req.ffmpeg.ffmpeg);
  const passlogDir = await mkdtemp(join(tmpdir(), 'nommer-pass-'));
  const paths = req.outputs.map((o) => o.path);
  try {
    const compiled = compileJob({
      input: ffmpegInputArg(req.input),
      probe,
      outputs: req.outputs.map((o) => ({ preset: o.preset, path: o.path })),
      encoders: caps.encoders,
      passlogDir,
    });
    const commands = compiled.commands.map((c) => [req.ffmpeg.ffmpeg, ...c.args]);
    const shown = commands.map((argv) =>
      argv.map((a) => {
        const i = paths.indexOf(a);
        return i >= 0
          ? isLocalUri(req.outputs[i]!.dest)
            ? resolve(localPathOf(req.outputs[i]!.dest))
            : req.outputs[i]!.dest
          : a;
      }),
    );
    if (req.dryRun) return { probe, outputs: [], commands: shown };
    const progress = new TaskProgress(
      compiled.commands.map((c) => c.weight),
      probe.duration,
      now(),
    );
    for (const [i, c] of compiled.commands.entries()) {
      await runFfmpeg(req.ffmpeg.ffmpeg, c.args, {
        signal: req.signal,
        onSpawn: req.onSpawn,
        onProgress: (b) => req.onProgress?.(progress.update(i, b, now())),
      });
    }
    const outputs: Array<{ path: string; bytes: number }> = [];
    for (const o of req.outputs) {
      const st = await stat(o.path).catch(() => undefined);
      if (!st || st.size === 0)
        throw new NommerError('FFMPEG_FAILED', `ffmpeg wrote no data for ${o.dest}`, {
          hint: 'the input may have no stream this preset can use',
        });
      outputs.push({ path: o.path, bytes: st.size });
    }
    return { probe, outputs, commands: shown };
  } catch (err) {
    throw asNommerError(err);
  } finally {
    await rm(passlogDir, { recursive: true, force: true });
  }
}
