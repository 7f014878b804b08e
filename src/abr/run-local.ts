// `nommer encode … --preset abr`: a whole package in the foreground, no daemon. It runs the very
// tasks a fleet runs (tasks.ts), one after another on this machine, with the local storage and a
// private scratch directory, so a package made here is the one feederd's workers make.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import type { Progress } from '../jobs/types.js';
import { MESSAGE_VERSION, type ReceivedTask } from '../messages.js';
import type { Storage } from '../ports/storage.js';
import { toWirePreset } from '../presets/registry.js';
import type { ResolvedPreset } from '../presets/schema.js';
import { standaloneContext } from '../worker/task-context.js';
import { runTask } from '../worker/runners.js';
import { storePlannedObjects } from '../tasks/plan-objects.js';
import { packageTasks } from './tasks.js';
import { makeChunkPlanner } from '../tasks/planner.js';
import { packageOfResult, type PackageInfo } from './types.js';
import { loudnessOfResult, type OutputLoudness } from '../ffmpeg/loudness.js';
import { ffmpegCapabilities } from '../ffmpeg/locate.js';
import { ffmpegInputArg, probeInput } from '../ffmpeg/probe.js';
import { compileJob } from '../presets/compile.js';
import { abrOf, audioPreset, packageVideo, planLadder, renditionPreset, rungName } from './ladder.js';
import { displayAspect, packageArgs } from './worker-task.js';

export interface LocalPackageRequest {
  ffmpeg: FfmpegInstall;
  storage: Storage;
  /** Absolute path or URL of the source. */
  input: string;
  preset: ResolvedPreset;
  /** The package directory. */
  dir: string;
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export async function encodePackage(
  req: LocalPackageRequest & {
    /** Tasks run at once (default 1: one after another); the package always runs last. */
    lanes?: number;
    /** Chunk every rung into pieces of about this many seconds, as feederd does a long input. */
    chunkSeconds?: number;
    /** Told each task's wall time as it ends (benchmarks). */
    onTask?: (key: string, ms: number) => void;
  },
): Promise<{ dir: string; bytes: number; package: PackageInfo; loudness?: OutputLoudness }> {
  const scratch = await mkdtemp(join(tmpdir(), 'nommer-abr-'));
  try {
    const scratchBase = `${join(scratch, 'pieces')}/`;
    // Chunked rungs, as feederd plans them for a long input (benchmarks); else a task per rung.
    const planned = req.chunkSeconds
      ? await makeChunkPlanner({
          ffprobe: () => req.ffmpeg.ffprobe,
          chunking: { enabled: true, thresholdSeconds: 0, chunkSeconds: req.chunkSeconds },
          workers: () => Math.max(1, req.lanes ?? 1),
          scratchBase,
          storage: req.storage,
        })(req.input, [{ preset: toWirePreset(req.preset), uri: req.dir }], true)
      : null;
    const tasks = planned?.tasks ?? packageTasks(req.preset, { scratch: scratchBase });
    if (!planned?.tasks) await storePlannedObjects(req.storage, tasks);
    const total = tasks.reduce((s, t) => s + t.weight, 0);
    const share = new Map<string, number>();
    const report = (p?: Progress) =>
      req.onProgress?.({
        fraction: Math.min(1, [...share.values()].reduce((a, b) => a + b, 0) / total),
        ...(p ? { fps: p.fps, speed: p.speed } : {}),
      });
    const runOne = async (t: (typeof tasks)[number]) => {
      const task: ReceivedTask = {
        v: MESSAGE_VERSION,
        kind: 'task',
        jobId: 'local',
        taskId: t.key,
        attempt: 1,
        type: t.type,
        input: req.input,
        outputs: [{ preset: req.preset, uri: req.dir }],
        force: req.force ?? false,
        params: t.params,
      };
      const work = await mkdtemp(join(scratch, `${t.key}-`));
      const ctx = standaloneContext({
        task,
        storage: req.storage,
        ffmpeg: req.ffmpeg,
        scratch: work,
        ...(req.signal ? { signal: req.signal } : {}),
        onProgress: (p) => {
          share.set(t.key, t.weight * p.fraction);
          report(p);
        },
      });
      const t0 = performance.now();
      const r = await runTask(ctx);
      await r.committed?.finish();
      await r.cleanup?.();
      req.onTask?.(t.key, performance.now() - t0);
      share.set(t.key, t.weight);
      report();
      return r;
    };
    // Every task but the package (which needs them all), `lanes` at a time in order, as a fleet's queue.
    const pieces = tasks.filter((t) => !t.deps?.length);
    let next = 0;
    const lane = async () => {
      try {
        while (next < pieces.length) await runOne(pieces[next++]!);
      } catch (err) {
        next = pieces.length; // the other lanes start nothing more
        throw err;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, req.lanes ?? 1) }, lane));
    const last = await runOne(tasks.find((t) => t.deps?.length)!);
    const pkg = packageOfResult(last.result);
    if (!pkg) throw new Error('packaging reported no package');
    const loudness = loudnessOfResult(last.result)[0]?.loudness;
    return { dir: req.dir, bytes: last.outputs[0]?.bytes ?? 0, package: pkg, ...(loudness ? { loudness } : {}) };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** What a package would run, for --dry-run: each rendition's encode, the audio's, and the packaging
 * (with the pieces' scratch names; poster, thumbnails and subtitles are not listed). */
export async function packageCommands(o: {
  ffmpeg: FfmpegInstall;
  input: string;
  preset: ResolvedPreset;
  dir: string;
}): Promise<string[][]> {
  const probe = await probeInput(o.ffmpeg.ffprobe, o.input);
  const v = packageVideo(probe, o.preset);
  const caps = await ffmpegCapabilities(o.ffmpeg.ffmpeg);
  const compile = (preset: ResolvedPreset, path: string) =>
    compileJob({
      input: ffmpegInputArg(o.input),
      probe,
      outputs: [{ preset, path }],
      encoders: caps.encoders,
      passlogDir: tmpdir(),
    }).commands[0]!.args;
  const ladder = planLadder(o.preset, v);
  const pieces = ladder.map((r) => `rendition-${rungName(r.rung)}.webm`);
  const commands = ladder.map((r, i) => compile(renditionPreset(o.preset, r.rung), pieces[i]!));
  const audio = probe.audio && o.preset.audio ? 'audio.webm' : null;
  if (audio) commands.push(compile(audioPreset(o.preset), audio));
  commands.push(
    packageArgs({
      renditions: pieces,
      audio,
      segmentSeconds: abrOf(o.preset).segmentSeconds,
      outDir: o.dir,
      aspect: displayAspect(ladder),
    }),
  );
  return commands;
}
