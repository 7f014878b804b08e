// `chunk`: one video chunk of a chunked job, stored with its entry (chunked/worker-task.ts).
import type { TaskKind } from './kind.js';
import { TASK_PARAMS } from './params.js';
import { TASK_RESULTS } from './results.js';

export const chunk: TaskKind<'chunk'> = {
  name: 'chunk',
  summary: "encode one video chunk of a chunked job into the job's scratch",
  params: TASK_PARAMS.chunk,
  result: TASK_RESULTS.chunk,
  scratchUris: (p) => [p.uri],
};
