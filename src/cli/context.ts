// What every command gets: global flags and the loaded config, plus the wrapper that turns an
// action's outcome into an exit code (0 ok, 1 failed, 2 usage/config) without stack traces.
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../config.js';
import { reportError } from './output.js';

export interface GlobalOptions {
  json?: boolean;
  quiet?: boolean;
  config?: string;
}

export interface CommandContext {
  global: GlobalOptions;
  /** Loaded on first use, so `--help` and config-free commands never read a file. */
  config(): Promise<LoadedConfig>;
}

export type Action<A extends unknown[]> = (ctx: CommandContext, ...args: A) => Promise<number | undefined>;

/** Wraps an action: errors become one clear line and an exit code. */
export function action<A extends unknown[]>(fn: Action<A>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const global = cmd.optsWithGlobals() as GlobalOptions;
    let loaded: Promise<LoadedConfig> | undefined;
    const ctx: CommandContext = {
      global,
      config: () => (loaded ??= loadConfig({ file: global.config })),
    };
    try {
      const code = await fn(ctx, ...(args.slice(0, -1) as A));
      process.exitCode = code ?? 0;
    } catch (err) {
      process.exitCode = reportError(err, global);
    }
  };
}

/** Collects repeated options into an array (commander's idiom). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Parses an integer option with a clear usage error. */
export function intOption(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      // commander turns InvalidArgumentError into a usage error (exit 2)
      throw new InvalidOption(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

class InvalidOption extends InvalidArgumentError {}
