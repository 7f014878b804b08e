// Human and JSON output for the CLI: errors as one clear line (plus a hint), JSON for scripts.
import { printable } from '../api/format.js';
import { NommerError, asNommerError, exitCodeFor } from '../errors.js';

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints an error the way a person (or a script with --json) wants it; returns the exit code. */
export function reportError(err: unknown, opts: OutputOptions = {}): number {
  const e = asNommerError(err);
  if (opts.json) {
    printJson({
      error: { code: e.code, message: e.message, retriable: e.retriable, ...(e.hint ? { hint: e.hint } : {}) },
    });
  }
  const lines = [
    `nommer: ${printable(e.message, { keepNewlines: true })}${e.code === 'USAGE' || e.code === 'CONFIG_INVALID' ? '' : ` [${e.code}]`}`,
  ];
  if (e.hint) lines.push(`  hint: ${printable(e.hint, { keepNewlines: true })}`);
  if (e.detail && process.env.NOMMER_DEBUG) lines.push(e.detail.replace(/^/gm, '  | '));
  if (e.code === 'INTERNAL' && process.env.NOMMER_DEBUG && e.cause instanceof Error) lines.push(String(e.cause.stack));
  process.stderr.write(`${lines.join('\n')}\n`);
  return exitCodeFor(e);
}

export function usage(message: string, hint?: string): NommerError {
  return new NommerError('USAGE', message, { hint });
}

// Sizes and durations read the same in the CLI, the TUI and the dashboard (api/format.ts).
export { formatBytes, formatDuration } from '../api/format.js';

/** For display only (nothing is ever run through a shell): POSIX single-quoting. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_/.:=,+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
