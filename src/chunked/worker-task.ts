// What a worker does with the tasks of a chunked job (kinds `chunk`, `audio`, `assemble`; see
// tasks/): a piece task encodes one video chunk (or the whole audio) and stores it with its entry
// under the job's scratch prefix (src/pieces.ts); the `assemble` task joins them into the job's
// output. The worker loop owns leases, heartbeats and status; this owns the pieces.
import { join } from 'node:path';
import { measureOutputMedia } from '../cost/output-media.js';
import { commitAllUndoable, discardAll, type PreparedOutput } from '../ports/storage.js';
import { lazyInput, type TaskContext, type TaskRun } from '../worker/task-context.js';
import { assembleChunks } from './assemble.js';
import { encodeAudioPiece, encodeVideoChunk, type PieceRequest } from './encode-chunk.js';
import type { AudioPieceEntry, ChunkManifestEntry } from './entries.js';
import { fetchPinned, storePiece } from '../pieces.js';
import type { ResultOf } from '../tasks/results.js';
import { chunkList, type AssembleParams, type AudioChunkParams, type VideoChunkParams } from './tasks.js';

function pieceRequest(ctx: TaskContext, input: string, dest: string, preset: PieceRequest['preset']) {
  return { ffmpeg: ctx.ffmpeg, input, preset, dest, signal: ctx.signal, onProgress: ctx.onProgress };
}

/** A video chunk, of the job's preset or of the one given (a package's rung: worker/runners.ts). */
export async function runVideoChunk(
  ctx: TaskContext,
  p: VideoChunkParams,
  preset: PieceRequest['preset'] = ctx.task.outputs[0]!.preset,
): Promise<TaskRun & { result: ChunkManifestEntry }> {
  await ctx.phase('encoding');
  const local = join(ctx.scratch, `chunk-${p.index}.webm`);
  const entry = await encodeVideoChunk({ ...pieceRequest(ctx, await lazyInput(ctx)(), local, preset), chunk: p });
  await storePiece(ctx, local, p.uri, entry);
  return { outputs: [], result: entry };
}

export async function runAudioPiece(
  ctx: TaskContext,
  p: AudioChunkParams,
): Promise<TaskRun & { result: AudioPieceEntry }> {
  await ctx.phase('encoding');
  const local = join(ctx.scratch, 'audio.webm');
  const entry: AudioPieceEntry = {
    kind: 'audio',
    ...(await encodeAudioPiece(pieceRequest(ctx, await lazyInput(ctx)(), local, ctx.task.outputs[0]!.preset))),
  };
  await storePiece(ctx, local, p.uri, entry);
  return { outputs: [], result: entry };
}

export async function runAssemble(ctx: TaskContext, p: AssembleParams): Promise<TaskRun<ResultOf<'assemble'>>> {
  const { task } = ctx;
  await ctx.phase('encoding');
  const out = task.outputs[0]!;
  await ctx.storage.checkOutput(out.uri, { overwrite: task.force });
  const prepared: PreparedOutput = await ctx.storage.prepareOutput(out.uri, {
    overwrite: task.force,
    tag: ctx.tag,
    scratchDir: ctx.scratch,
  });
  try {
    const list = await fetchPinned(ctx.storage, p.chunks, chunkList, ctx.scratch, ctx.signal);
    const r = await assembleChunks({
      ffmpeg: ctx.ffmpeg,
      storage: ctx.storage,
      params: { ...p, manifest: list.manifest },
      preset: out.preset,
      input: lazyInput(ctx),
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
        // The joined output's quality and loudness, for the job record (see jobs/state.ts).
        ...(r.quality ? { quality: [{ uri: out.uri, quality: r.quality }] } : {}),
        ...(r.loudness ? { loudness: [{ uri: out.uri, loudness: r.loudness }] } : {}),
        ...(media.length ? { media } : {}),
      },
      // The pieces, then the list that named them.
      cleanup: async () => {
        await r.cleanup();
        await ctx.storage.remove(p.chunks.uri).catch(() => undefined);
      },
    };
  } catch (err) {
    await discardAll([prepared]);
    throw err;
  }
}
