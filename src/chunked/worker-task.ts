// What a worker does with the tasks of a chunked job: a `chunk` task encodes one video chunk (or
// the whole audio) and stores it with its manifest entry under the job's scratch prefix; the
// `assemble` task joins them into the job's output. The worker loop owns leases, heartbeats and
// status; this owns the pieces.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measureOutputMedia } from '../cost/output-media.js';
import { NommerError } from '../errors.js';
import type { TaskMessage } from '../messages.js';
import { commitAllUndoable, discardAll, type PreparedOutput } from '../ports/storage.js';
import type { TaskContext, TaskRun } from '../worker/task-context.js';
import { assembleChunks } from './assemble.js';
import { encodeAudioPiece, encodeVideoChunk } from './encode-chunk.js';
import { assembleParams, manifestUri } from './tasks.js';
import { packageParams, pieceParams } from '../abr/tasks.js';
import { runAbrPiece, runPackageTask } from '../abr/worker-task.js';

function paramsOf<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } } },
  task: TaskMessage,
): T {
  const r = schema.safeParse(task.params ?? {});
  if (!r.success)
    throw new NommerError('MESSAGE_INVALID', `${task.type} task ${task.taskId} has invalid params: ${r.error.message}`);
  return r.data;
}

async function storeWithManifest(
  ctx: TaskContext,
  local: string,
  uri: string,
  entry: Record<string, unknown>,
): Promise<void> {
  // The piece first, then the entry that vouches for it: an entry never names a piece not yet there.
  await ctx.beforeCommit();
  await ctx.storage.store(local, uri, { overwrite: true, signal: ctx.signal });
  const side = `${local}.json`;
  await writeFile(side, JSON.stringify(entry));
  await ctx.storage.store(side, manifestUri(uri), { overwrite: true, signal: ctx.signal });
}

export async function runChunkedTask(ctx: TaskContext): Promise<TaskRun & { result: Record<string, unknown> }> {
  const { task } = ctx;
  const preset = task.outputs[0]!.preset;
  // A chunked job's pieces: the input is fetched only when the piece needs it.
  let fetched: Promise<string> | undefined;
  const fetchInput = () => (fetched ??= ctx.storage.fetch(task.input, ctx.scratch, { signal: ctx.signal }));
  await ctx.phase('encoding');
  if (task.type === 'chunk') {
    const p = paramsOf(pieceParams, task);
    if (p.kind !== 'video' && p.kind !== 'audio') return runAbrPiece(ctx, p, fetchInput);
    const input = await fetchInput();
    const local = join(ctx.scratch, p.kind === 'video' ? `chunk-${p.index}.webm` : 'audio.webm');
    const common = { ffmpeg: ctx.ffmpeg, input, preset, dest: local, signal: ctx.signal, onProgress: ctx.onProgress };
    const entry: Record<string, unknown> =
      p.kind === 'video'
        ? { ...(await encodeVideoChunk({ ...common, chunk: p })) }
        : { kind: 'audio', ...(await encodeAudioPiece(common)) };
    await storeWithManifest(ctx, local, p.uri, entry);
    return { outputs: [], result: entry };
  }
  if (task.type === 'assemble' && (task.params as { kind?: unknown } | undefined)?.kind === 'package')
    return runPackageTask(ctx, paramsOf(packageParams, task), fetchInput);
  if (task.type === 'assemble') {
    const p = paramsOf(assembleParams, task);
    const out = task.outputs[0]!;
    await ctx.storage.checkOutput(out.uri, { overwrite: task.force });
    const prepared: PreparedOutput = await ctx.storage.prepareOutput(out.uri, {
      overwrite: task.force,
      tag: ctx.tag,
      scratchDir: ctx.scratch,
    });
    try {
      const r = await assembleChunks({
        ffmpeg: ctx.ffmpeg,
        storage: ctx.storage,
        params: p,
        preset,
        input: fetchInput,
        dest: prepared.path,
        workDir: ctx.scratch,
        signal: ctx.signal,
        onProgress: ctx.onProgress,
        onRepair: ctx.onRepair,
      });
      const media = await measureOutputMedia(ctx.ffmpeg.ffprobe, [{ uri: out.uri, path: prepared.path }], ctx.signal);
      await ctx.phase('uploading');
      await ctx.beforeCommit();
      // Undoable until the worker loop has reported the task's end (see worker.ts settle).
      const committed = await commitAllUndoable([prepared], { signal: ctx.signal });
      return {
        outputs: committed.results,
        committed,
        result: {
          frames: r.frames,
          repaired: r.repaired,
          // The joined output's quality, for the job record (see jobs/state.ts).
          ...(r.quality ? { quality: [{ uri: out.uri, quality: r.quality }] } : {}),
          ...(media.length ? { media } : {}),
        },
        cleanup: r.cleanup,
      };
    } catch (err) {
      await discardAll([prepared]);
      throw err;
    }
  }
  throw new NommerError(
    'MESSAGE_INVALID',
    `a worker does not run ${task.type} tasks (feederd plans chunked jobs itself)`,
  );
}
