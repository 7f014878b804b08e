// `audio`: a chunked job's audio, encoded whole once (chunked/worker-task.ts). With a loudness
// target it is also where the whole audio is measured, once (chunked/encode-chunk.ts): the fit's
// trials are encodes of this same piece, so the analysis is not a kind of its own.
import type { TaskKind } from './kind.js';
import { TASK_PARAMS } from './params.js';
import { TASK_RESULTS } from './results.js';

export const audio: TaskKind<'audio'> = {
  name: 'audio',
  summary: "encode a chunked job's audio once into the job's scratch (measured first for a loudness target)",
  params: TASK_PARAMS.audio,
  result: TASK_RESULTS.audio,
  scratchUris: (p) => [p.uri],
};
