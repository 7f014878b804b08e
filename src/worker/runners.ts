// The worker's side of the task kinds (tasks/registry.ts): one runner per kind, looked up by the
// message's type, each given its kind's params already parsed. Where packages (abr/) use what
// chunked jobs (chunked/) do, the two meet here and nowhere else. The table is typed by the kinds'
// names, so a kind without a runner (or a runner of the wrong params) does not compile; feederd
// never loads this file (nor the encoders it imports).
import { NommerError } from '../errors.js';
import type { ParamsOf, TaskKindName } from '../tasks/params.js';
import type { ResultOf } from '../tasks/results.js';
import { KINDS } from '../tasks/registry.js';
import { runEncodeTask } from './encode-task.js';
import type { TaskContext, TaskRun } from './task-context.js';

/** A kind's runner: its params in, its result (tasks/results.ts) out. */
export type Runner<K extends TaskKindName> = (ctx: TaskContext, params: ParamsOf<K>) => Promise<TaskRun<ResultOf<K>>>;

// The chunked and package runners (and the encoders, HLS and HDR writers they import) load with
// a worker's first task of their kind: a worker that only encodes whole files never pays for them.
const chunked = () => import('../chunked/worker-task.js');
const abr = () => import('../abr/worker-task.js');

export const RUNNERS: { [K in TaskKindName]: Runner<K> } = {
  encode: (ctx) => runEncodeTask(ctx),
  chunk: async (ctx, p) => (await chunked()).runVideoChunk(ctx, p),
  audio: async (ctx, p) => (await chunked()).runAudioPiece(ctx, p),
  assemble: async (ctx, p) => (await chunked()).runAssemble(ctx, p),
  rendition: async (ctx, p) => (await abr()).runRendition(ctx, p),
  // One chunk of a package's rung: a chunked job's video chunk, with the rung's preset.
  'rendition-chunk': async (ctx, p) =>
    (await chunked()).runVideoChunk(ctx, { ...p, kind: 'video' }, (await abr()).rungPreset(ctx, p.rung)),
  'package-audio': async (ctx, p) => (await abr()).runPackageAudio(ctx, p),
  extras: async (ctx, p) => (await abr()).runExtras(ctx, p),
  // A package joins its chunked rungs as a chunked job joins its chunks.
  package: async (ctx, p) =>
    (await abr()).runPackageTask(ctx, p, (await import('../chunked/assemble.js')).assembleChunks),
  scenes: async (ctx, p) => (await import('../chunked/scene-task.js')).runScenes(ctx, p),
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
