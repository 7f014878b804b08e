// `nommer worker`: sets up the ports for the configured backend and runs the worker loop(s) until
// idle, --once, or SIGTERM (finish or release the current task; a second SIGTERM aborts it).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { openPorts } from '../backends.js';
import type { LoadedConfig } from '../config.js';
import { locateFfmpeg } from '../ffmpeg/locate.js';
import { createLogger } from '../log.js';
import { workerScratchDir } from '../paths.js';
import { Worker } from './worker.js';
import { workerDeliveryLimit } from '../jobs/deliveries.js';
import { discoverInstance } from './instance-type.js';
import { DrainWatch, imdsDrainProbe, WorkerSlots } from './drain.js';

export interface WorkerMainOptions {
  id?: string;
  once?: boolean;
  idleExitSeconds?: number;
  concurrency?: number;
  /** Seconds to let the current task finish after SIGTERM before it is released. */
  shutdownGraceSeconds?: number;
  /** Stop (after the current task) when this process is gone: feederd died without stopping us. */
  parentPid?: number;
}

export async function runWorker(loaded: LoadedConfig, opts: WorkerMainOptions): Promise<number> {
  const { config, home } = loaded;
  const id = opts.id ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
  const log = createLogger('nommer-worker').child({ worker: id });
  const ffmpeg = locateFfmpeg({ ffmpeg: config.ffmpeg.path, ffprobe: config.ffmpeg.ffprobePath });
  // Before the ports: a malformed NOMMER_INSTANCE_TYPE stops the worker before it takes work.
  const instance = await discoverInstance({ backend: config.backend });
  const ports = await openPorts(config, home);
  const stop = new AbortController();
  const hard = new AbortController();
  let signals = 0;
  const onSignal = (sig: string) => {
    signals++;
    if (signals === 1) {
      log.info({ signal: sig }, 'stopping: finishing the current task (signal again to release it now)');
      stop.abort();
      const grace = opts.shutdownGraceSeconds;
      if (grace !== undefined) setTimeout(() => hard.abort(), grace * 1000).unref();
    } else {
      log.warn({ signal: sig }, 'releasing the current task now');
      hard.abort();
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const parentWatch = opts.parentPid
    ? setInterval(() => {
        try {
          process.kill(opts.parentPid!, 0);
        } catch {
          if (!stop.signal.aborted) {
            log.warn({ parent: opts.parentPid }, 'feederd is gone: stopping after the current task');
            stop.abort();
          }
        }
      }, 2000)
    : undefined;
  parentWatch?.unref();
  log.info(
    { backend: ports.backend, ffmpeg: ffmpeg.ffmpeg, instanceType: instance?.type, instanceFrom: instance?.source },
    'worker started',
  );
  // On EC2, feederd scales in by tagging the instance; the worker reads its tags from IMDS.
  const probe = ports.backend === 'aws' ? imdsDrainProbe() : undefined;
  const drain = probe ? new DrainWatch(probe, { log }) : undefined;
  // One look before the first lease: a worker starting on an instance already drained leases nothing.
  await drain?.poll();
  drain?.start();
  const slots = new WorkerSlots({ idleExitSeconds: opts.idleExitSeconds, drain });
  try {
    const n = Math.max(1, opts.concurrency ?? 1);
    const loops = Array.from({ length: n }, (_, i) =>
      new Worker({
        id: n > 1 ? `${id}/${i}` : id,
        queue: ports.queue,
        status: ports.status,
        control: ports.control,
        storage: ports.storage,
        ffmpeg,
        workDir: workerScratchDir(home, id),
        log,
        leaseSeconds: config.jobs.leaseSeconds,
        maxDeliveries: workerDeliveryLimit(config.jobs.maxAttempts),
        ...(instance
          ? { instance: { type: instance.type, ...(instance.spot !== undefined ? { spot: instance.spot } : {}) } }
          : {}),
      }).run({ once: opts.once, slots, signal: stop.signal, hardSignal: hard.signal }),
    );
    const reasons = await Promise.all(loops);
    log.info({ reasons }, 'worker stopped');
    return 0;
  } finally {
    drain?.stop();
    if (parentWatch) clearInterval(parentWatch);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    ports.close();
  }
}
