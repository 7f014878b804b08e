// The CLI's own main(), run inside the test process, for tests that check what a command decides
// (its exit code, its stderr line) many times over: a `nommer` process start costs about a second
// of CPU. What only a real process shows (argv decoding, bin/nommer turning main's code into the
// exit status, no stack trace on stderr) stays with helpers/cli.ts, and a test using this helper
// should keep at least one case through the real binary.
import { main } from '../../src/cli.js';
import type { CliResult } from './cli.js';

let busy = false;

/**
 * `nommer ...args` in this process: main's return value is the exit code bin/nommer would give,
 * stdout and stderr are what the command wrote. `env` is set for the call (an undefined value
 * unsets) and restored; so are the working directory and process.exitCode (main sets it, and the
 * test runner would take it for this file's own). One call at a time: it swaps process-wide state.
 */
export async function nommerInProcess(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  if (busy) throw new Error('nommerInProcess: one call at a time');
  busy = true;
  const saved = { cwd: process.cwd(), exitCode: process.exitCode, env: { ...process.env } };
  const out = { stdout: '', stderr: '' };
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  // The CLI writes text; the test runner's child sends its events to the parent over stdout as
  // bytes (v8-serialized), possibly while main runs: those go through untouched.
  const capture = (key: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (typeof chunk !== 'string')
        return (writes[key] as (...a: unknown[]) => boolean).call(process[key], chunk, ...rest);
      out[key] += chunk;
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      if (done) queueMicrotask(done);
      return true;
    }) as typeof process.stdout.write;
  try {
    for (const [k, v] of Object.entries(opts.env ?? {})) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (opts.cwd) process.chdir(opts.cwd);
    process.exitCode = undefined;
    process.stdout.write = capture('stdout');
    process.stderr.write = capture('stderr');
    const code = await main([process.execPath, 'nommer', ...args]);
    return { code, ...out };
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
    process.chdir(saved.cwd);
    process.exitCode = saved.exitCode;
    for (const k of Object.keys(process.env)) if (!(k in saved.env)) delete process.env[k];
    Object.assign(process.env, saved.env);
    busy = false;
  }
}
