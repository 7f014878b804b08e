// `package`: a package's pieces checked (re-made if bad), muxed into CMAF segments with DASH and
// HLS manifests, and committed all or none (abr/worker-task.ts).
import type { TaskKind } from './kind.js';
import { TASK_PARAMS } from './params.js';

export const packageKind: TaskKind<'package'> = {
  name: 'package',
  summary: "package a job's renditions, audio and extras into its output directory",
  params: TASK_PARAMS.package,
  scratchUris: () => [],
  // Its piece list (the renditions' own tasks name their pieces).
  removeMore: async (storage, p) => {
    await storage.remove(p.pieces.uri).catch(() => undefined);
  },
  scratchPrefix: (p) => p.scratch,
};
