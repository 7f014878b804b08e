// Starts a real feederd (child process, real SQLite, real workers) in a temp data dir.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../../src/client/api-client.js';
import type { PublicJob } from '../../src/orchestrator/api.js';
import { NOMMER_BIN } from './cli.js';

export interface RunningFeederd {
  home: string;
  dir: string;
  proc: ChildProcess;
  client: ApiClient;
  env: NodeJS.ProcessEnv;
  /** Graceful stop (SIGTERM) and wait. */
  stop(): Promise<void>;
  /** SIGKILL feederd only (its workers notice and stop after their task). */
  kill(): Promise<void>;
  /** Whether it still runs, or how it ended, and the end of its stderr: for a failure's message. */
  describe(): string;
}

/** The url in feederd's address file, or undefined while it is missing or not fully written. */
function readApiUrl(apiFile: string): string | undefined {
  if (!existsSync(apiFile)) return undefined;
  try {
    const { url } = JSON.parse(readFileSync(apiFile, 'utf8')) as { url?: unknown };
    return typeof url === 'string' ? url : undefined;
  } catch {
    return undefined;
  }
}

export function writeConfig(dir: string, config: Record<string, unknown>): void {
  writeFileSync(join(dir, 'nommer.config.json'), JSON.stringify(config));
}

export async function startFeederd(
  dir: string,
  opts: {
    workers?: number;
    config?: Record<string, unknown>;
    extraArgs?: string[];
    env?: NodeJS.ProcessEnv;
    /** Keep the token a stopped feederd left in feederd.json (default: start from none). */
    keepToken?: boolean;
  } = {},
): Promise<RunningFeederd> {
  const home = join(dir, 'home');
  // A short lease keeps the kill tests quick; 4 s leaves room for a loaded machine's heartbeats.
  writeConfig(dir, { jobs: { leaseSeconds: 4, maxAttempts: 3 }, ...opts.config });
  const env = { ...process.env, ...opts.env, NOMMER_HOME: home, NOMMER_LOG_LEVEL: 'warn' };
  // A feederd killed with SIGKILL leaves its address behind; wait for the new one's.
  const apiRecord = join(home, 'feederd.json');
  const kept =
    opts.keepToken && existsSync(apiRecord)
      ? (JSON.parse(readFileSync(apiRecord, 'utf8')) as { token?: string; generated?: boolean })
      : undefined;
  rmSync(apiRecord, { force: true });
  if (kept?.token)
    writeFileSync(apiRecord, `${JSON.stringify({ token: kept.token, generated: kept.generated })}\n`, { mode: 0o600 });
  const proc = spawn(
    process.execPath,
    [
      NOMMER_BIN,
      'feederd',
      '--port',
      '0',
      '--workers',
      String(opts.workers ?? 1),
      '--shutdown-grace',
      '2',
      ...(opts.extraArgs ?? []),
    ],
    { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c) => {
    stderr += c;
  });
  const apiFile = join(home, 'feederd.json');
  // It fails at once when feederd exits; the deadline only catches a hang (a feederd on a machine
  // loaded to 15 on 2 cores took over 20 s to start).
  const deadline = Date.now() + 120_000;
  // feederd writes the file in place: it can exist and still be empty or half written.
  let url: string | undefined;
  while ((url = readApiUrl(apiFile)) === undefined) {
    if (proc.exitCode !== null) throw new Error(`feederd exited: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`feederd did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // Every request but health needs the token feederd keeps beside its address.
  const { token } = JSON.parse(readFileSync(apiFile, 'utf8')) as { token?: string };
  const client = new ApiClient({ url, token });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    home,
    dir,
    proc,
    client,
    env,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited;
    },
    describe() {
      const how =
        proc.exitCode === null && proc.signalCode === null
          ? 'running'
          : `exited (code ${proc.exitCode}, signal ${proc.signalCode})`;
      return `feederd ${proc.pid} ${how}; its stderr ends: ${stderr.slice(-3000) || '(nothing)'}`;
    },
  };
}

/**
 * Wait until `pred` holds for job `id` as GET /v1/jobs/:id shows it. A final job (succeeded,
 * failed, canceled) never changes by itself, so when the job is final and `pred` does not hold,
 * this fails at once with the job in the message instead of waiting out the timeout. A caller that
 * expects a final job to change under it (something else retries it while we wait) passes
 * `{ finalIsFatal: false }`. After a retry request of your own, call this once that request has
 * returned: the job is queued again by then.
 *
 * The job is read when its event stream (GET /v1/jobs/:id/events) says it changed, rather than
 * every 100 ms: a read costs feederd and the test about 4.5 ms of CPU, and most of a wait is an
 * encode during which nothing changes (issue 24). Reads stay `pollMs` (default 100) apart; while
 * the stream is open and quiet the job is read every STREAM_QUIET_READ_MS anyway (a `pred` that
 * also looks at something else than the job), and without a stream (ended with the job, refused,
 * feederd gone) every `pollMs`, as before.
 */
export async function waitForJob(
  client: ApiClient,
  id: string,
  pred: (j: PublicJob) => boolean,
  timeoutMs = 60_000,
  opts: { finalIsFatal?: boolean; pollMs?: number } = {},
): Promise<PublicJob> {
  const deadline = Date.now() + timeoutMs;
  const pollMs = opts.pollMs ?? 100;
  // Opened after the first read, only when that one does not end the wait (a job already final
  // would cost a stream for nothing); its snapshot makes up for anything changed in between.
  let stream: JobChanges | undefined;
  try {
    let last: PublicJob | undefined;
    while (Date.now() < deadline) {
      const readAt = Date.now();
      if (stream) stream.changed = false;
      last = (await client.getJob(id)).job;
      if (pred(last)) return last;
      if (isFinal(last) && opts.finalIsFatal !== false) {
        throw new Error(
          `job ${id} is ${last.state} (final, so it will not change) and what the test waits for does not hold for it: ${JSON.stringify(last)}`,
        );
      }
      stream ??= new JobChanges(client, id);
      await sleep(Math.max(0, readAt + pollMs - Date.now()));
      await stream.next(Math.max(0, Math.min(stream.open ? STREAM_QUIET_READ_MS : 0, deadline - Date.now())));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for job ${id}; last: ${JSON.stringify(last)}`);
  } finally {
    stream?.close();
  }
}

/**
 * A job with a local destination succeeds only once its outputs are at their paths: on the aws
 * backend feederd holds the success in phase `delivering` until it has them back from the staging
 * prefix (jobs/state.ts). So a test checks them at once when the job succeeds, with no wait.
 */
export function assertThereAtSuccess(...paths: string[]): void {
  for (const p of paths) assert.ok(existsSync(p), `${p} is there when the job succeeds`);
}

/** While the job's event stream is open and says nothing, waitForJob reads the job this often. */
export const STREAM_QUIET_READ_MS = 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A job's event stream as a "something changed" flag and a wait for the next change. */
class JobChanges {
  /** A message came since the flag was last cleared. */
  changed = true;
  /** Whether the stream is connected and the job not final (set by its messages). */
  open = false;
  private wake: (() => void) | undefined;
  private readonly stop = new AbortController();

  constructor(client: ApiClient, id: string) {
    const done = () => {
      this.open = false;
      this.wake?.();
    };
    client
      .events(
        id,
        (m) => {
          this.open = m.type !== 'end';
          this.changed = true;
          this.wake?.();
        },
        this.stop.signal,
      )
      .then(done, done);
  }

  /** Resolves on a change (at once when one came since the flag was cleared) or after `ms`. */
  next(ms: number): Promise<void> {
    if (this.changed || ms <= 0) return Promise.resolve();
    return new Promise((r) => {
      const timer = setTimeout(finish, ms);
      const self = this;
      function finish() {
        clearTimeout(timer);
        self.wake = undefined;
        r();
      }
      this.wake = finish;
    });
  }

  close(): void {
    this.stop.abort();
    this.wake?.();
  }
}

export const isFinal = (j: PublicJob) => ['succeeded', 'failed', 'canceled'].includes(j.state);

/**
 * Pids of processes whose command line (arguments joined by spaces) contains `needle`, this
 * process aside. Read from /proc here rather than by `pgrep -f`: the tests poll this every 100 ms
 * while they wait for an encoder, and each pgrep start cost about 30 ms of CPU (75 of them in
 * fault.test alone); the scan costs a few milliseconds in this process.
 */
export function pidsMatching(needle: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(needle)) pids.push(pid);
    } catch {
      // It exited between the listing and the read.
    }
  }
  return pids;
}
