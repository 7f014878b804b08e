// A chunked job that fails or is canceled leaves no intermediates behind: its chunk pieces and
// manifests are removed from scratch (a successful assembly removes them itself). A retry
// re-encodes what it needs; the assemble step never drops a missing chunk.
import { removeScratch } from '../chunked/assemble.js';
import type { AssembleParams } from '../chunked/tasks.js';
import type { Logger } from '../log.js';
import type { Storage } from '../ports/storage.js';
import type { Store } from './store/index.js';

export function attachChunkCleanup(store: Store, storage: Storage, log: Logger): () => void {
  return store.subscribe((c) => {
    if (c.event.type !== 'failed' && c.event.type !== 'canceled') return;
    if (!(c.job.options as { chunking?: { chunked?: boolean } }).chunking?.chunked) return;
    const assemble = store.getJob(c.jobId)?.tasks.find((t) => t.type === 'assemble');
    if (!assemble?.params) return;
    removeScratch(storage, assemble.params as unknown as AssembleParams)
      .then(() => log.info({ job: c.jobId }, 'chunk intermediates removed'))
      .catch((err) => log.warn({ job: c.jobId, err: String(err) }, 'could not remove chunk intermediates'));
  });
}
