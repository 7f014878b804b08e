// `nommer encode … --preset abr`: a whole package in the foreground, no daemon. It runs the very
// tasks a fleet runs (tasks.ts), one after another on this machine, with the local storage and a
// private scratch directory, so a package made here is the one feederd's workers make.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import type { Progress } from '../jobs/types.js';
import { MESSAGE_VERSION, type TaskMessage } from '../messages.js';
import type { Storage } from '../ports/storage.js';
import { toWirePreset } from '../presets/registry.js';
import type { ResolvedPreset } from '../presets/schema.js';
import { standaloneContext } from '../worker/task-context.js';
import { runChunkedTask } from '../chunked/worker-task.js';
import { packageTasks } from './tasks.js';
import { packageOfResult, type PackageInfo } from './types.js';
import { ffmpegCapabilities } from '../ffmpeg/locate.js';
import { ffmpegInputArg, probeInput } from '../ffmpeg/probe.js';
import { compileJob } from '../presets/compile.js';
import { NommerError } from '../errors.js';
import { abrOf, audioPreset, planLadder, renditionPreset, rungName } from './ladder.js';
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
  req: LocalPackageRequest,
): Promise<{ dir: string; bytes: number; package: PackageInfo }> {
  const scratch = await mkdtemp(join(tmpdir(), 'nommer-abr-'));
  try {
    const tasks = packageTasks(req.preset, { scratch: `${join(scratch, 'pieces')}/` });
    const total = tasks.reduce((s, t) => s + t.weight, 0);
    let done = 0;
    let last: Awaited<ReturnType<typeof runChunkedTask>> | undefined;
    for (const t of tasks) {
      const task: TaskMessage = {
        v: MESSAGE_VERSION,
        kind: 'task',
        jobId: 'local',
        taskId: t.key,
        attempt: 1,
        type: t.type,
        input: req.input,
        outputs: [{ preset: toWirePreset(req.preset), uri: req.dir }],
        force: req.force ?? false,
        params: t.params,
      };
      const work = await mkdtemp(join(scratch, `${t.key}-`));
      const weight = t.weight;
      const ctx = standaloneContext({
        task,
        storage: req.storage,
        ffmpeg: req.ffmpeg,
        scratch: work,
        ...(req.signal ? { signal: req.signal } : {}),
        onProgress: (p) =>
          req.onProgress?.({ fraction: Math.min(1, (done + weight * p.fraction) / total), fps: p.fps, speed: p.speed }),
      });
      last = await runChunkedTask(ctx);
      await last.committed?.finish();
      await last.cleanup?.();
      done += weight;
      req.onProgress?.({ fraction: Math.min(1, done / total) });
    }
    const pkg = packageOfResult(last?.result);
    if (!last || !pkg) throw new Error('packaging reported no package');
    return { dir: req.dir, bytes: last.outputs[0]?.bytes ?? 0, package: pkg };
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
  const v = probe.video && !probe.video.attachedPic ? probe.video : undefined;
  if (!v)
    throw new NommerError(
      'INPUT_NO_STREAMS',
      `preset "${o.preset.name}" makes a video package and the input has no video`,
    );
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
