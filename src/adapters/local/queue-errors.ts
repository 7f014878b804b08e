// SQLite failures of the local queue and status channel, turned into QUEUE_FAILED once, here.
import { NommerError } from '../../errors.js';

export function asQueueError(err: unknown, doing: string): NommerError {
  if (err instanceof NommerError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  // Another process held the write lock past busy_timeout: trying again later can work.
  const busy = typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
  const message = err instanceof Error ? err.message : String(err);
  return new NommerError('QUEUE_FAILED', `could not ${doing} in the local database: ${message}`, {
    retriable: busy,
    cause: err,
    hint: busy ? 'the database is busy; it will be retried' : undefined,
  });
}
