// One worker's loop: lease -> fetch -> encode -> store -> report -> ack (a chunked job's `chunk`
// and `assemble` tasks do their encode step in src/chunked). Heartbeats extend the
// lease on a timer owned by the loop and check for cancellation. Errors are classified once (in
// encode/storage), reported as a status event, and the task is acked: retry decisions belong to
// the orchestrator. A worker that dies simply loses its lease; the task is delivered again.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NommerError, asNommerError } from '../errors.js';
import { encode } from '../encode.js';
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import type { Progress, Phase } from '../jobs/types.js';
import type { Logger } from '../log.js';
import { parseMessage, taskMessage, MESSAGE_VERSION, SEQ_PER_DELIVERY, type StatusEvent, type TaskMessage } from '../messages.js';
import type { ControlChannel } from '../ports/control.js';
import type { JobQueue, Lease } from '../ports/queue.js';
import type { StatusChannel } from '../ports/status.js';
import type { Storage } from '../ports/storage.js';
import { isLocalUri, localPathOf } from '../uri.js';
import { sleep } from '../sleep.js';
import { parseResolvedPreset } from '../presets/registry.js';
import { runChunkedTask } from '../chunked/worker-task.js';

export interface WorkerDeps {
  id: string;
  queue: JobQueue;
  status: StatusChannel;
  control: ControlChannel;
  storage: Storage;
  ffmpeg: FfmpegInstall;
  /** Scratch space for downloads and outputs bound for remote storage. */
  workDir: string;
  log: Logger;
  leaseSeconds: number;
  /** Deliveries after which a task that never finished is failed as WORKER_LOST. */
  maxDeliveries: number;
  /** How often to check for cancel (ms); the lease is extended every leaseSeconds/3. */
  controlIntervalMs?: number;
  /** Minimum gap between progress events (ms). */
  progressIntervalMs?: number;
}

export interface RunOptions {
  /** Stop after one task (tests, `--once`). */
  once?: boolean;
  /** Exit after this many seconds with nothing to do. */
  idleExitSeconds?: number;
  /** Stop taking new work (SIGTERM): the current task finishes or is released. */
  signal?: AbortSignal;
  /** Abort the current task too and release it (second SIGTERM, or shutdown deadline). */
  hardSignal?: AbortSignal;
  waitSeconds?: number;
}

export type TaskOutcome = 'succeeded' | 'failed' | 'released' | 'rejected' | 'returned' | 'canceled';

export class Worker {
  private busy = false;
  constructor(private readonly d: WorkerDeps) {}

  get isBusy(): boolean { return this.busy; }

  /** The loop. Resolves with the reason it stopped. */
  async run(opts: RunOptions = {}): Promise<'idle' | 'once' | 'stopped'> {
    let idleSince = Date.now();
    const wait = opts.waitSeconds ?? 1;
    while (!opts.signal?.aborted) {
      let lease: Lease | null;
      try {
        lease = await this.d.queue.receive({ waitSeconds: wait, leaseSeconds: this.d.leaseSeconds, signal: opts.signal });
      } catch (err) {
        if (opts.signal?.aborted) break;
        const e = asNommerError(err);
        this.d.log.warn({ code: e.code, err: e.message }, 'receive failed; backing off');
        await sleep(1000, opts.signal);
        continue;
      }
      if (!lease) {
        if (opts.idleExitSeconds !== undefined && (Date.now() - idleSince) / 1000 >= opts.idleExitSeconds) return 'idle';
        continue;
      }
      await this.handle(lease, opts.hardSignal);
      idleSince = Date.now();
      if (opts.once) return 'once';
    }
    return 'stopped';
  }

  /** Process one leased message to the end. Never throws. */
  async handle(lease: Lease, hardSignal?: AbortSignal): Promise<TaskOutcome> {
    const parsed = parseMessage(taskMessage, lease.body);
    if (!parsed.ok) {
      if (parsed.version !== undefined && parsed.version !== MESSAGE_VERSION && typeof parsed.version === 'number') {
        // A newer (or older) nommer sent it: leave it for a worker that speaks that version.
        this.d.log.warn({ version: parsed.version, reason: parsed.reason }, 'message of a version this worker does not know: returned untouched');
        await lease.release(5).catch(() => undefined);
        return 'returned';
      }
      this.d.log.error({ reason: parsed.reason }, 'malformed task message moved to the dead-letter queue');
      await lease.reject(`malformed task message: ${parsed.reason}`).catch((err) => this.d.log.error({ err: String(err) }, 'reject failed'));
      return 'rejected';
    }
    this.busy = true;
    try {
      return await this.runTask(parsed.value, lease, hardSignal);
    } finally {
      this.busy = false;
    }
  }

  private async runTask(task: TaskMessage, lease: Lease, hardSignal?: AbortSignal): Promise<TaskOutcome> {
    const log = this.d.log.child({ job: task.jobId, task: task.taskId, attempt: task.attempt, delivery: lease.receiveCount });
    let n = 0;
    const seqBase = lease.receiveCount * SEQ_PER_DELIVERY;
    const publish = async (ev: Omit<StatusEvent, 'v' | 'kind' | 'jobId' | 'taskId' | 'attempt' | 'seq' | 'worker' | 'at'>) => {
      const event: StatusEvent = { v: MESSAGE_VERSION, kind: 'status', jobId: task.jobId, taskId: task.taskId, attempt: task.attempt, seq: seqBase + n++, worker: this.d.id, at: Date.now(), ...ev };
      try { await this.d.status.publish(event); } catch (err) { log.warn({ err: asNommerError(err).message, type: ev.type }, 'status publish failed'); }
    };

    if (lease.receiveCount > this.d.maxDeliveries) {
      log.error('task was delivered too many times without finishing: failing it');
      await publish({ type: 'failed', error: new NommerError('WORKER_LOST', `the task was started ${lease.receiveCount - 1} times and never finished (workers were lost or crashed)`, { hint: 'check the worker logs; `nommer retry` runs it again' }).toInfo() });
      await lease.reject('too many deliveries').catch(() => lease.ack());
      return 'failed';
    }

    const abort = new AbortController();
    let canceled = false;
    let leaseLost = false;
    const onHard = () => abort.abort();
    hardSignal?.addEventListener('abort', onHard, { once: true });
    const extendEvery = Math.max(1000, (this.d.leaseSeconds * 1000) / 3);
    let lastExtend = Date.now();
    const timer = setInterval(() => {
      void (async () => {
        try {
          if (await this.d.control.isCanceled(task.jobId)) { canceled = true; abort.abort(); return; }
          if (Date.now() - lastExtend >= extendEvery) {
            lastExtend = Date.now();
            await lease.extend(this.d.leaseSeconds);
          }
        } catch (err) {
          log.warn({ err: asNommerError(err).message }, 'heartbeat failed');
          if (asNommerError(err).code === 'QUEUE_FAILED' && /lease|not found|receipt/i.test(String((err as Error).message))) { leaseLost = true; abort.abort(); }
        }
      })();
    }, this.d.controlIntervalMs ?? 1000);

    const scratch = await mkdtemp(join(this.d.workDir, `${task.jobId}-`)).catch(async () => {
      await mkdir(this.d.workDir, { recursive: true });
      return mkdtemp(join(this.d.workDir, `${task.jobId}-`));
    });
    let lastProgress = 0;
    let cleanup: (() => Promise<void>) | undefined;
    const phase = (p: Phase) => publish({ type: 'phase', phase: p });
    try {
      await publish({ type: 'started' });
      if (await this.d.control.isCanceled(task.jobId)) throw new NommerError('CANCELED', 'canceled before start');
      await phase('downloading');
      const onProgress = (p: Progress) => {
        const now = Date.now();
        if (now - lastProgress < (this.d.progressIntervalMs ?? 1000) && p.fraction < 1) return;
        lastProgress = now;
        void publish({ type: 'progress', progress: p });
      };
      let stored: Array<{ uri: string; bytes: number }>;
      let result: Record<string, unknown> | undefined;
      if (task.type === 'chunk' || task.type === 'assemble') {
        // A chunked job's pieces: the input is fetched only when the piece needs it.
        let fetched: Promise<string> | undefined;
        const fetchInput = () => (fetched ??= this.d.storage.fetch(task.input, scratch, { signal: abort.signal }));
        await phase('encoding');
        const r = await runChunkedTask({
          task, storage: this.d.storage, ffmpeg: this.d.ffmpeg, workDir: scratch, fetchInput, signal: abort.signal, onProgress,
          onRepair: (piece, why) => log.warn({ piece, why }, 'piece re-encoded before assembly'),
        });
        stored = r.outputs;
        result = r.result;
        cleanup = r.cleanup;
      } else {
        const input = await this.d.storage.fetch(task.input, scratch, { signal: abort.signal });
        await phase('encoding');
        const outputs = task.outputs.map((o, i) => {
          // Only destinations this backend's storage takes: an aws worker never writes its own disk.
          if (!this.d.storage.handles(o.uri)) throw new NommerError('USAGE', `this worker cannot store to ${o.uri}`, { hint: 'use a destination of this backend (a local path for local, s3:// for aws)' });
          const local = isLocalUri(o.uri);
          return { uri: o.uri, local, path: local ? localPathOf(o.uri) : join(scratch, `out-${i}.${String((o.preset as { extension?: string }).extension ?? 'bin').replace(/^\./, '')}`), preset: parseResolvedPreset(o.preset) };
        });
        const encoded = await encode({
          ffmpeg: this.d.ffmpeg,
          input,
          outputs: outputs.map((o) => ({ preset: o.preset, path: o.path })),
          force: task.force,
          tempTag: task.taskId,
          signal: abort.signal,
          onProgress,
        });
        stored = [];
        if (outputs.some((o) => !o.local)) await phase('uploading');
        for (const [i, o] of outputs.entries()) {
          if (o.local) stored.push({ uri: o.uri, bytes: encoded.outputs[i]!.bytes });
          else stored.push(await this.d.storage.store(o.path, o.uri, { overwrite: task.force, signal: abort.signal }));
        }
      }
      await publish({ type: 'succeeded', outputs: stored, ...(result ? { result } : {}) });
      await lease.ack();
      log.info({ outputs: stored.length }, 'task succeeded');
      if (cleanup) await cleanup().catch((err) => log.warn({ err: asNommerError(err).message }, 'removing intermediates failed'));
      return 'succeeded';
    } catch (err) {
      const e = asNommerError(err);
      if (canceled) {
        log.info('canceled by the orchestrator');
        await publish({ type: 'failed', error: new NommerError('CANCELED', 'canceled').toInfo() });
        await lease.ack().catch(() => undefined);
        return 'canceled';
      }
      if (leaseLost || (hardSignal?.aborted && e.code === 'CANCELED')) {
        log.warn({ leaseLost }, 'task released unfinished');
        await publish({ type: 'released' });
        if (!leaseLost) await lease.release(0).catch(() => undefined);
        return 'released';
      }
      log.warn({ code: e.code, err: e.message, retriable: e.retriable }, 'task failed');
      await publish({ type: 'failed', error: e.toInfo() });
      await lease.ack().catch(() => undefined);
      return 'failed';
    } finally {
      clearInterval(timer);
      hardSignal?.removeEventListener('abort', onHard);
      await rm(scratch, { recursive: true, force: true });
    }
  }
}

