// `extras`: a package's poster, seek thumbnails and WebVTT subtitles, stored beside an entry
// that lists them (abr/worker-task.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extrasEntry } from '../abr/entries.js';
import { extrasFileUri } from '../abr/tasks.js';
import { readEntry } from '../pieces.js';
import type { TaskKind } from './kind.js';
import { TASK_PARAMS } from './params.js';
import { TASK_RESULTS } from './results.js';

export const extras: TaskKind<'extras'> = {
  name: 'extras',
  summary: "make a package's poster, thumbnails and subtitles into the job's scratch",
  params: TASK_PARAMS.extras,
  result: TASK_RESULTS.extras,
  scratchUris: (p) => [p.uri],
  // Its files are named in its entry: removed before the entry (scratchUris), which names them.
  removeMore: async (storage, p) => {
    const dir = await mkdtemp(join(tmpdir(), 'nommer-extras-'));
    try {
      const entry = await readEntry(storage, p.uri, extrasEntry, dir).catch(() => null);
      for (const f of entry?.files ?? []) await storage.remove(extrasFileUri(p.uri, f)).catch(() => undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
