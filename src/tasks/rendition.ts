// `rendition`: one rung of a package encoded whole (abr/worker-task.ts).
import type { TaskKind } from './kind.js';
import { TASK_PARAMS } from './params.js';
import { TASK_RESULTS } from './results.js';

export const rendition: TaskKind<'rendition'> = {
  name: 'rendition',
  summary: "encode one rung of a package into the job's scratch",
  params: TASK_PARAMS.rendition,
  result: TASK_RESULTS.rendition,
  scratchUris: (p) => [p.uri],
};
