// Typed errors: every failure that enters nommer (ffmpeg exit, SDK call, bad input, bad config)
// is turned into a NommerError once, where it enters, with a stable code, a message a person can
// act on, and whether a retry can help. Callers never re-guess.

export const ERROR_CODES = [
  'USAGE', // bad flags or arguments (exit 2)
  'CONFIG_INVALID', // config file or env is wrong (exit 2)
  'INPUT_NOT_FOUND',
  'INPUT_UNREADABLE', // a directory, FIFO, permission denied
  'INPUT_UNDECODABLE', // not media, truncated, corrupt
  'INPUT_NO_STREAMS', // nothing the preset can use (e.g. video preset on audio-only input)
  'PRESET_UNKNOWN',
  'PRESET_INVALID',
  'OVERRIDE_INVALID',
  'ENCODER_MISSING',
  'FFMPEG_MISSING',
  'FFMPEG_FAILED',
  'OUTPUT_EXISTS',
  'OUTPUT_UNWRITABLE',
  'DELIVERY_FAILED', // aws: the outputs were made but could not be brought to their local paths
  'DISK_FULL',
  'STORAGE_DENIED',
  'STORAGE_NOT_FOUND',
  'STORAGE_FAILED',
  'QUEUE_FAILED',
  'LEASE_LOST', // a queue lease ran out or was taken by another delivery: stop, write nothing
  'MESSAGE_INVALID',
  'MESSAGE_VERSION',
  'WORKER_LOST',
  'CANCELED',
  'JOB_NOT_FOUND',
  'WATCH_NOT_FOUND',
  'JOB_STATE', // an operation that the job's state does not allow
  'DATA_INVALID', // nommer's own data (a job row, feederd.json, release pins) does not read back as written
  'API_UNREACHABLE',
  'API_ERROR',
  'UNAUTHORIZED',
  'FLEET_FAILED',
  'BUDGET_EXCEEDED', // a job's estimate or cost passed its --max-cost
  'QUALITY_GATE', // an output scored under a quality gate's floor whose action is fail
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorInfo {
  code: ErrorCode | string;
  message: string;
  retriable: boolean;
}

export class NommerError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  /** What the user can do about it, shown after the message. */
  readonly hint?: string;
  /** Extra lines for detail views (e.g. the useful tail of ffmpeg's stderr). */
  readonly detail?: string;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { retriable?: boolean; hint?: string; detail?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'NommerError';
    this.code = code;
    this.retriable = opts.retriable ?? false;
    this.hint = opts.hint;
    this.detail = opts.detail;
  }

  toInfo(): ErrorInfo {
    const message = this.hint ? `${this.message} (${this.hint})` : this.message;
    return { code: this.code, message, retriable: this.retriable };
  }
}

/** Exit code for an error at the CLI: 2 for usage/config mistakes, 1 for everything else. */
export function exitCodeFor(err: unknown): number {
  if (
    err instanceof NommerError &&
    (err.code === 'USAGE' ||
      err.code === 'CONFIG_INVALID' ||
      err.code === 'PRESET_UNKNOWN' ||
      err.code === 'OVERRIDE_INVALID' ||
      err.code === 'PRESET_INVALID')
  )
    return 2;
  return 1;
}

/** Any thrown value as a NommerError; unknown errors become INTERNAL (not retriable). */
export function asNommerError(err: unknown): NommerError {
  if (err instanceof NommerError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && e.code === 'ENOSPC')
    return new NommerError('DISK_FULL', `no space left on device${e.path ? ` writing ${e.path}` : ''}`, {
      retriable: true,
      cause: err,
      hint: 'free disk space, then retry the job',
    });
  if (e && (e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS'))
    return new NommerError('OUTPUT_UNWRITABLE', `cannot write${e.path ? ` ${e.path}` : ''}: ${e.code}`, {
      cause: err,
      hint: 'check the destination directory permissions',
    });
  const message = err instanceof Error ? err.message : String(err);
  return new NommerError('INTERNAL', message, { cause: err });
}
