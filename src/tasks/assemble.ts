// `assemble`: a chunked job's join: every chunk checked (re-encoded if bad), joined, audio muxed
// (chunked/worker-task.ts, chunked/assemble.ts).
import type { TaskKind } from './kind.js';
import { TASK_PARAMS } from './params.js';

export const assemble: TaskKind<'assemble'> = {
  name: 'assemble',
  summary: "join a chunked job's checked chunks and audio into its output",
  params: TASK_PARAMS.assemble,
  scratchUris: () => [],
  scratchPrefix: (p) => p.scratch,
};
