// An `encode` task: fetch the input, prepare every output through the Storage port (a private
// temp name beside a local destination, a scratch file bound for S3), run the one ffmpeg job,
// check the attempt is still current, then commit all outputs or none (undoable until the
// worker loop has reported the task's end). Outputs' quality (encode.ts measures them) goes
// back in the task's result.
import { NommerError } from '../errors.js';
import { measureOutputMedia } from '../cost/output-media.js';
import { encodeInto, checkOutputsOfJob } from '../encode.js';
import { commitAllUndoable, discardAll, type PreparedOutput } from '../ports/storage.js';
import type { TaskContext, TaskRun } from './task-context.js';
import type { ResultOf } from '../tasks/results.js';

export async function runEncodeTask(ctx: TaskContext): Promise<TaskRun<ResultOf<'encode'>>> {
  const { task, storage } = ctx;
  for (const o of task.outputs) {
    // Only destinations this backend's storage takes: an aws worker never writes its own disk.
    if (!storage.handles(o.uri))
      throw new NommerError('USAGE', `this worker cannot store to ${o.uri}`, {
        hint: 'use a destination of this backend (a local path for local, s3:// for aws)',
      });
  }
  checkOutputsOfJob(
    task.input,
    task.outputs.map((o) => o.uri),
  );
  const input = await storage.fetch(task.input, ctx.scratch, { signal: ctx.signal });
  await ctx.phase('encoding');
  const prepared: PreparedOutput[] = [];
  try {
    for (const o of task.outputs) {
      await storage.checkOutput(o.uri, { overwrite: task.force });
      prepared.push(
        await storage.prepareOutput(o.uri, { overwrite: task.force, tag: ctx.tag, scratchDir: ctx.scratch }),
      );
    }
    const r = await encodeInto({
      ffmpeg: ctx.ffmpeg,
      input,
      outputs: task.outputs.map((o, i) => ({
        preset: o.preset,
        path: prepared[i]!.path,
        dest: o.uri,
      })),
      signal: ctx.signal,
      onProgress: ctx.onProgress,
    });
    // Each output's length and height, for the job's cost per output minute (cost/output-media.ts).
    const media = await measureOutputMedia(
      ctx.ffmpeg.ffprobe,
      task.outputs.map((o, i) => ({ uri: o.uri, path: prepared[i]!.path })),
      ctx.signal,
    );
    await ctx.phase('uploading');
    await ctx.beforeCommit();
    const committed = await commitAllUndoable(prepared, { signal: ctx.signal });
    // Each output's quality and loudness travel in the result (the status event's outputs carry sizes only).
    const quality = task.outputs.flatMap((o, i) => {
      const q = r.outputs[i]?.quality;
      return q ? [{ uri: o.uri, quality: q }] : [];
    });
    const loudness = task.outputs.flatMap((o, i) => {
      const l = r.outputs[i]?.loudness;
      return l ? [{ uri: o.uri, loudness: l }] : [];
    });
    const result = {
      ...(quality.length ? { quality } : {}),
      ...(loudness.length ? { loudness } : {}),
      ...(media.length ? { media } : {}),
    };
    return { outputs: committed.results, committed, ...(Object.keys(result).length ? { result } : {}) };
  } catch (err) {
    await discardAll(prepared);
    throw err;
  }
}
