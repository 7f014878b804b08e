// `encode`: the whole job in one ffmpeg run on one worker (worker/encode-task.ts).
import type { TaskKind } from './kind.js';
import { TASK_PARAMS } from './params.js';
import { TASK_RESULTS } from './results.js';

export const encode: TaskKind<'encode'> = {
  name: 'encode',
  summary: "encode the job's input into all its outputs at once",
  params: TASK_PARAMS.encode,
  result: TASK_RESULTS.encode,
  scratchUris: () => [],
};
