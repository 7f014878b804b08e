// `package`: a package's pieces checked (re-made if bad), muxed into CMAF segments with DASH and
// HLS manifests, and committed all or none (abr/worker-task.ts). Its piece list travels by
// reference.
import * as z from 'zod';
import { piecesObject } from '../abr/tasks.js';
import type { TaskKind } from './kind.js';
import { renditionChunkParams, renditionParams, TASK_PARAMS } from './params.js';
import { TASK_RESULTS } from './results.js';

const renditionPiece = z.union([renditionParams, renditionChunkParams]);

export const packageKind: TaskKind<'package'> = {
  name: 'package',
  summary: "package a job's renditions, audio and extras into its output directory",
  params: TASK_PARAMS.package,
  result: TASK_RESULTS.package,
  scratchUris: () => [],
  // Its piece list (the renditions' own tasks name their pieces).
  removeMore: async (storage, p) => {
    await storage.remove(p.pieces.uri).catch(() => undefined);
  },
  scratchPrefix: (p) => p.scratch,
  restoreList: (p, tasks) => {
    const renditions = tasks.flatMap((t) => {
      const r = t.type === 'rendition' || t.type === 'rendition-chunk' ? renditionPiece.safeParse(t.params) : null;
      return r?.success ? [r.data] : [];
    });
    if (!renditions.length) return null;
    const again = piecesObject(p.scratch, renditions);
    return again.ref.uri === p.pieces.uri && again.ref.sha256 === p.pieces.sha256 ? again.object : null;
  },
};
