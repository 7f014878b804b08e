// `rendition-chunk`: one chunk of one rung of a long package (abr/worker-task.ts).
import type { TaskKind } from './kind.js';
import { TASK_PARAMS } from './params.js';
import { TASK_RESULTS } from './results.js';

export const renditionChunk: TaskKind<'rendition-chunk'> = {
  name: 'rendition-chunk',
  summary: "encode one chunk of one rung of a package into the job's scratch",
  params: TASK_PARAMS['rendition-chunk'],
  result: TASK_RESULTS['rendition-chunk'],
  scratchUris: (p) => [p.uri],
};
