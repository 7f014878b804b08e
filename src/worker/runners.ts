// The worker's side of the task kinds (tasks/registry.ts): one runner per kind, looked up by the
// message's type, each given its kind's params already parsed. Where packages (abr/) use what
// chunked jobs (chunked/) do, the two meet here and nowhere else. The table is typed by the kinds'
// names, so a kind without a runner (or a runner of the wrong params) does not compile; feederd
// never loads this file (nor the encoders it imports).
import { rungPreset, runExtras, runPackageAudio, runPackageTask, runRendition } from '../abr/worker-task.js';
import { assembleChunks } from '../chunked/assemble.js';
import { runAssemble, runAudioPiece, runVideoChunk } from '../chunked/worker-task.js';
import { runScenes } from '../chunked/scene-task.js';
import { NommerError } from '../errors.js';
import type { ParamsOf, TaskKindName } from '../tasks/params.js';
import type { ResultOf } from '../tasks/results.js';
import { KINDS } from '../tasks/registry.js';
import { runEncodeTask } from './encode-task.js';
import type { TaskContext, TaskRun } from './task-context.js';

/** A kind's runner: its params in, its result (tasks/results.ts) out. */
export type Runner<K extends TaskKindName> = (ctx: TaskContext, params: ParamsOf<K>) => Promise<TaskRun<ResultOf<K>>>;

export const RUNNERS: { [K in TaskKindName]: Runner<K> } = {
  encode: (ctx) => runEncodeTask(ctx),
  chunk: runVideoChunk,
  audio: runAudioPiece,
  assemble: runAssemble,
  rendition: runRendition,
  // One chunk of a package's rung: a chunked job's video chunk, with the rung's preset.
  'rendition-chunk': (ctx, p) => runVideoChunk(ctx, { ...p, kind: 'video' }, rungPreset(ctx, p.rung)),
  'package-audio': runPackageAudio,
  extras: runExtras,
  // A package joins its chunked rungs as a chunked job joins its chunks.
  package: (ctx, p) => runPackageTask(ctx, p, assembleChunks),
  scenes: runScenes,
};

/** The kind's params, typed (they were checked on receipt: a failure here is a message the
 * envelope let through, refused as such). */
function runKind<K extends TaskKindName>(name: K, ctx: TaskContext): Promise<TaskRun> {
  const r = KINDS[name].params.safeParse(ctx.task.params ?? {});
  if (!r.success) throw new NommerError('MESSAGE_INVALID', `a ${name} task has invalid params: ${r.error.message}`);
  return RUNNERS[name](ctx, r.data);
}

/** Run a task: its kind's runner, looked up by the message's type. */
export function runTask(ctx: TaskContext): Promise<TaskRun> {
  if (!Object.hasOwn(RUNNERS, ctx.task.type))
    throw new NommerError(
      'MESSAGE_INVALID',
      `no task kind "${ctx.task.type}" (kinds: ${Object.keys(RUNNERS).join(', ')})`,
    );
  return runKind(ctx.task.type, ctx);
}
