// `audio`: a chunked job's audio, encoded whole once (chunked/worker-task.ts).
import type { TaskKind } from './kind.js';
import { TASK_PARAMS } from './params.js';
import { TASK_RESULTS } from './results.js';

export const audio: TaskKind<'audio'> = {
  name: 'audio',
  summary: "encode a chunked job's audio once into the job's scratch",
  params: TASK_PARAMS.audio,
  result: TASK_RESULTS.audio,
  scratchUris: (p) => [p.uri],
};
