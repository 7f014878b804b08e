// `package-audio`: a package's audio, aligned to its first video frame (abr/worker-task.ts);
// with a loudness target, measured whole here once, as the `audio` kind does.
import type { TaskKind } from './kind.js';
import { TASK_PARAMS } from './params.js';
import { TASK_RESULTS } from './results.js';

export const packageAudio: TaskKind<'package-audio'> = {
  name: 'package-audio',
  summary: "encode a package's audio into the job's scratch (measured first for a loudness target)",
  params: TASK_PARAMS['package-audio'],
  result: TASK_RESULTS['package-audio'],
  scratchUris: (p) => [p.uri],
};
