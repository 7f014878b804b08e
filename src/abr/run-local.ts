// `nommer encode … --preset abr`: a whole package in the foreground, no daemon. It runs the very
// tasks a fleet runs (tasks.ts), one after another on this machine, with the local storage and a
// private scratch directory, so a package made here is the one feederd's workers make.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import type { ProbeInfo } from '../ffmpeg/types.js';
import type { Progress } from '../jobs/types.js';
import { MESSAGE_VERSION, type ReceivedTask } from '../messages.js';
import type { Storage } from '../ports/storage.js';
import type { ResolvedPreset } from '../presets/schema.js';
import { standaloneContext, type TaskRun } from '../worker/task-context.js';
import { runTask } from '../worker/runners.js';
import { storePlannedObjects } from '../tasks/plan-objects.js';
import type { PlannedTask } from '../tasks/planned.js';
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

export interface LocalPackageOptions extends LocalPackageRequest {
  /** Tasks run at once (default 1: one after another); the package always runs last. */
  lanes?: number;
  /** Chunk every rung into pieces of about this many seconds, as feederd does a long input. */
  chunkSeconds?: number;
  /** Told each task's wall time as it ends (benchmarks). */
  onTask?: (key: string, ms: number) => void;
}

export async function encodePackage(
  req: LocalPackageOptions,
): Promise<{ dir: string; bytes: number; package: PackageInfo; loudness?: OutputLoudness }> {
  const scratch = await mkdtemp(join(tmpdir(), 'nommer-abr-'));
  try {
    const tasks = await planTasks(req, `${join(scratch, 'pieces')}/`);
    const runOne = taskRunner(req, scratch, tasks);
    // Every task but the package (which needs them all), `lanes` at a time in order, as a fleet's queue.
    await runInLanes(
      tasks.filter((t) => !t.deps?.length),
      Math.max(1, req.lanes ?? 1),
      runOne,
    );
    const last = await runOne(tasks.find((t) => t.deps?.length)!);
    const pkg = packageOfResult(last.result);
    if (!pkg) throw new Error('packaging reported no package');
    const loudness = loudnessOfResult(last.result)[0]?.loudness;
    return { dir: req.dir, bytes: last.outputs[0]?.bytes ?? 0, package: pkg, ...(loudness ? { loudness } : {}) };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The package's tasks, their objects stored: chunked rungs as feederd plans them for a long input (benchmarks), else a task per rung. */
async function planTasks(req: LocalPackageOptions, scratchBase: string): Promise<PlannedTask[]> {
  const planned = req.chunkSeconds
    ? await makeChunkPlanner({
        ffprobe: () => req.ffmpeg.ffprobe,
        chunking: { enabled: true, thresholdSeconds: 0, chunkSeconds: req.chunkSeconds },
        workers: () => Math.max(1, req.lanes ?? 1),
        scratchBase,
        storage: req.storage,
      })(req.input, [{ preset: req.preset, uri: req.dir }], true)
    : null;
  const tasks = planned?.tasks ?? packageTasks(req.preset, { scratch: scratchBase });
  // The chunk planner stores its tasks' objects itself.
  if (!planned?.tasks) await storePlannedObjects(req.storage, tasks);
  return tasks;
}

/**
 * Run one task as a worker would (the same message, the same runner), to its end: committed and
 * cleaned up. Progress is each task's share of the tasks' total weight.
 */
function taskRunner(
  req: LocalPackageOptions,
  scratch: string,
  tasks: readonly PlannedTask[],
): (t: PlannedTask) => Promise<TaskRun> {
  const total = tasks.reduce((s, t) => s + t.weight, 0);
  const share = new Map<string, number>();
  // One source, one process: the rungs, the audio and the extras read one probe of it.
  const sourceProbes = new Map<string, Promise<ProbeInfo>>();
  const report = (p?: Progress) =>
    req.onProgress?.({
      fraction: Math.min(1, [...share.values()].reduce((a, b) => a + b, 0) / total),
      ...(p ? { fps: p.fps, speed: p.speed } : {}),
    });
  return async (t) => {
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
      sourceProbes,
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
}

/** Run `tasks` in order, `lanes` at a time; the first failure stops new starts and is thrown. */
async function runInLanes(
  tasks: readonly PlannedTask[],
  lanes: number,
  runOne: (t: PlannedTask) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    try {
      while (next < tasks.length) await runOne(tasks[next++]!);
    } catch (err) {
      next = tasks.length; // the other lanes start nothing more
      throw err;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
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
