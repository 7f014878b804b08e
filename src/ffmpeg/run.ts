// The only place that spawns ffmpeg: runs one argument array (never a shell string) with
// -progress on stdout, reports progress blocks, cancels cleanly (SIGTERM, then SIGKILL) and turns
// failures into typed errors carrying the useful tail of stderr.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { NommerError } from '../errors.js';
import { ProgressParser, type FfmpegProgressBlock } from './progress.js';
import { stderrTail } from './probe.js';

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (b: FfmpegProgressBlock) => void;
  /** Called with the child's pid once it runs (tests and the worker's bookkeeping use it). */
  onSpawn?: (pid: number) => void;
  /** Grace time between SIGTERM and SIGKILL on cancel. */
  killGraceMs?: number;
  /** ffmpeg's log level instead of `error` (the quality runner reads the metric filters' `info` summaries). */
  logLevel?: 'error' | 'info';
}

const STDERR_KEEP = 64 * 1024;

/** The flags the runner adds in front of every argument array. */
export const RUNNER_FLAGS = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error', '-progress', 'pipe:1'];

/** stderr lines that mean the output file is incomplete even when ffmpeg exits 0. */
const OUTPUT_WRITE_FAILED = /No space left on device|Disk quota exceeded|Error writing trailer|Error closing file/i;

export function classifyFfmpegFailure(
  stderr: string,
  exitCode: number | null,
  signal: NodeJS.Signals | null,
): NommerError {
  const tail = stderrTail(stderr);
  const last = tail.split('\n').filter(Boolean).pop() ?? (signal ? `killed by ${signal}` : `exit code ${exitCode}`);
  if (/No space left on device|Disk quota exceeded/i.test(stderr))
    return new NommerError('DISK_FULL', 'no space left on the output device', {
      retriable: true,
      hint: 'free disk space, then retry',
      detail: tail,
    });
  if (/Unknown encoder|Encoder not found|encoder .* not found/i.test(stderr))
    return new NommerError('ENCODER_MISSING', `ffmpeg lacks an encoder: ${last}`, {
      hint: 'run `nommer doctor` to see which encoders this ffmpeg has',
      detail: tail,
    });
  if (/Permission denied|Read-only file system/i.test(stderr))
    return new NommerError('OUTPUT_UNWRITABLE', `ffmpeg could not write: ${last}`, {
      hint: 'check the destination directory permissions',
      detail: tail,
    });
  if (
    /Invalid data found when processing input|moov atom not found|could not find codec parameters|Error while decoding|End of file/i.test(
      stderr,
    )
  )
    return new NommerError('INPUT_UNDECODABLE', `input could not be decoded: ${last}`, {
      hint: 'the file may be truncated or corrupt',
      detail: tail,
    });
  if (signal)
    return new NommerError('FFMPEG_FAILED', `ffmpeg was killed by ${signal}`, { retriable: true, detail: tail });
  if (exitCode === 0)
    return new NommerError('FFMPEG_FAILED', `ffmpeg could not finish writing its output: ${last}`, {
      retriable: true,
      hint: 'check the destination disk',
      detail: tail,
    });
  return new NommerError('FFMPEG_FAILED', `ffmpeg failed (exit ${exitCode}): ${last}`, { detail: tail });
}

/**
 * On Linux, ffmpeg is started through util-linux's `setpriv --pdeathsig KILL` (it execs ffmpeg,
 * same pid) so that a worker killed with SIGKILL does not leave ffmpeg running on: ffmpeg ignores
 * SIGPIPE and would encode on with nobody reading its progress. Elsewhere ffmpeg runs directly.
 */
let wrapper: string[] | undefined;
function deathSignalWrapper(): string[] {
  if (wrapper) return wrapper;
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  wrapper =
    process.platform === 'linux' && setpriv && !process.env.NOMMER_NO_PDEATHSIG
      ? [setpriv, '--pdeathsig', 'KILL', '--']
      : [];
  return wrapper;
}

/** Runs ffmpeg; resolves with the tail of its stderr (what it logged at the log level asked for). */
export function runFfmpeg(ffmpeg: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new NommerError('CANCELED', 'canceled'));
    const [cmd, ...pre] = [...deathSignalWrapper(), ffmpeg];
    const flags = opts.logLevel ? RUNNER_FLAGS.map((f) => (f === 'error' ? opts.logLevel! : f)) : RUNNER_FLAGS;
    const child = spawn(cmd!, [...pre, ...flags, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let canceled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const parser = new ProgressParser((b) => opts.onProgress?.(b));
    child.stdout.setEncoding('utf8').on('data', (c: string) => parser.push(c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      if (stderr.length > STDERR_KEEP * 2) stderr = stderr.slice(-STDERR_KEEP);
    });
    const onAbort = () => {
      canceled = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killGraceMs ?? 3000);
      killTimer.unref();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('spawn', () => {
      if (child.pid) opts.onSpawn?.(child.pid);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (err.code === 'ENOENT')
        reject(
          new NommerError('FFMPEG_MISSING', `ffmpeg not found at ${ffmpeg}`, {
            hint: 'install ffmpeg or set NOMMER_FFMPEG',
          }),
        );
      else reject(new NommerError('FFMPEG_FAILED', `could not start ffmpeg: ${err.message}`, { retriable: true }));
    });
    child.on('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (canceled) return reject(new NommerError('CANCELED', 'canceled'));
      // ffmpeg exits 0 when writing the trailer or closing the file fails (a full disk): the output
      // is truncated, so that is a failure, whatever the exit code says.
      if (code === 0 && !OUTPUT_WRITE_FAILED.test(stderr)) return resolve(stderr);
      reject(classifyFfmpegFailure(stderr, code, signal));
    });
  });
}
