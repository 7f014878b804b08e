// What a worker does with the tasks of a chunked job: a `chunk` task encodes one video chunk (or
// the whole audio) and stores it with its manifest entry under the job's scratch prefix; the
// `assemble` task joins them into the job's output. The worker loop owns leases, heartbeats and
// status; this owns the pieces.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NommerError } from '../errors.js';
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import type { Progress } from '../jobs/types.js';
import type { TaskMessage } from '../messages.js';
import type { Storage, StoreResult } from '../ports/storage.js';
import { isLocalUri, localPathOf } from '../uri.js';
import { assembleChunks } from './assemble.js';
import { encodeAudioPiece, encodeVideoChunk } from './encode-chunk.js';
import { assembleParams, chunkParams, manifestUri } from './tasks.js';

export interface ChunkedTaskContext {
  task: TaskMessage;
  storage: Storage;
  ffmpeg: FfmpegInstall;
  /** The task's private scratch directory. */
  workDir: string;
  /** Fetch the job's input (local inputs are used in place). */
  fetchInput: () => Promise<string>;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  onSpawn?: (pid: number) => void;
  onRepair?: (piece: string, why: string) => void;
}

export interface ChunkedTaskResult {
  outputs: StoreResult[];
  result: Record<string, unknown>;
  /** Run after the task's success is reported (removes intermediates). */
  cleanup?: () => Promise<void>;
}

function paramsOf<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } } }, task: TaskMessage): T {
  const r = schema.safeParse(task.params ?? {});
  if (!r.success) throw new NommerError('MESSAGE_INVALID', `${task.type} task ${task.taskId} has invalid params: ${r.error.message}`);
  return r.data;
}

async function storeWithManifest(ctx: ChunkedTaskContext, local: string, uri: string, entry: Record<string, unknown>): Promise<void> {
  // The piece first, then the entry that vouches for it: an entry never names a piece not yet there.
  await ctx.storage.store(local, uri, { overwrite: true, signal: ctx.signal });
  const side = `${local}.json`;
  await writeFile(side, JSON.stringify(entry));
  await ctx.storage.store(side, manifestUri(uri), { overwrite: true, signal: ctx.signal });
}

export async function runChunkedTask(ctx: ChunkedTaskContext): Promise<ChunkedTaskResult> {
  const { task } = ctx;
  const preset = task.outputs[0]!.preset;
  if (task.type === 'chunk') {
    const p = paramsOf(chunkParams, task);
    const input = await ctx.fetchInput();
    const local = join(ctx.workDir, p.kind === 'video' ? `chunk-${p.index}.webm` : 'audio.webm');
    const common = { ffmpeg: ctx.ffmpeg, input, preset, dest: local, signal: ctx.signal, onProgress: ctx.onProgress, onSpawn: ctx.onSpawn };
    const entry: Record<string, unknown> = p.kind === 'video'
      ? { ...(await encodeVideoChunk({ ...common, chunk: p })) }
      : { kind: 'audio', ...(await encodeAudioPiece(common)) };
    await storeWithManifest(ctx, local, p.uri, entry);
    return { outputs: [], result: entry };
  }
  if (task.type === 'assemble') {
    const p = paramsOf(assembleParams, task);
    const out = task.outputs[0]!;
    const local = isLocalUri(out.uri);
    const dest = local ? localPathOf(out.uri) : join(ctx.workDir, 'assembled.webm');
    const r = await assembleChunks({
      ffmpeg: ctx.ffmpeg, storage: ctx.storage, params: p, preset, input: ctx.fetchInput, dest, force: task.force || !local,
      workDir: ctx.workDir, signal: ctx.signal, onProgress: ctx.onProgress, onSpawn: ctx.onSpawn, onRepair: ctx.onRepair,
    });
    const stored = local ? { uri: out.uri, bytes: r.bytes } : await ctx.storage.store(dest, out.uri, { overwrite: task.force, signal: ctx.signal });
    return { outputs: [stored], result: { frames: r.frames, repaired: r.repaired }, cleanup: r.cleanup };
  }
  throw new NommerError('MESSAGE_INVALID', `a worker does not run ${task.type} tasks (feederd plans chunked jobs itself)`);
}
