// Structured logs for the daemons (feederd, worker): one JSON object per line, via pino.
// The CLI prints human lines instead and does not use this.
import { pino, type Logger } from 'pino';

export type { Logger };

/** A logger writing JSON lines to a file descriptor (default stderr); `silent` for tests. */
export function createLogger(name: string, opts: { level?: string; destination?: number | string } = {}): Logger {
  const level = opts.level ?? process.env.NOMMER_LOG_LEVEL ?? 'info';
  const dest = pino.destination({ dest: opts.destination ?? 2, sync: true });
  return pino(
    {
      name,
      level,
      base: { pid: process.pid },
      redact: {
        paths: ['token', '*.token', 'secret', '*.secret', 'headers.authorization', '*.headers.authorization'],
        censor: '[redacted]',
      },
    },
    dest,
  );
}
