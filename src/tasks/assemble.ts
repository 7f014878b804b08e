// `assemble`: a chunked job's join: every chunk checked (re-encoded if bad), joined, audio muxed
// (chunked/worker-task.ts, chunked/assemble.ts). Its chunk list travels by reference.
import { chunkListObject } from '../chunked/tasks.js';
import type { TaskKind } from './kind.js';
import { TASK_PARAMS, videoChunkParams } from './params.js';
import { TASK_RESULTS } from './results.js';

export const assemble: TaskKind<'assemble'> = {
  name: 'assemble',
  summary: "join a chunked job's checked chunks and audio into its output",
  params: TASK_PARAMS.assemble,
  result: TASK_RESULTS.assemble,
  scratchUris: () => [],
  // Its chunk list (the chunks' own tasks name their pieces).
  removeMore: async (storage, p) => {
    await storage.remove(p.chunks.uri).catch(() => undefined);
  },
  scratchPrefix: (p) => p.scratch,
  restoreList: (p, tasks) => {
    const manifest = tasks.flatMap((t) => {
      const c = t.type === 'chunk' ? videoChunkParams.safeParse(t.params) : null;
      return c?.success ? [c.data] : [];
    });
    if (!manifest.length) return null;
    const again = chunkListObject(p.scratch, manifest);
    return again.ref.uri === p.chunks.uri && again.ref.sha256 === p.chunks.sha256 ? again.object : null;
  },
};
