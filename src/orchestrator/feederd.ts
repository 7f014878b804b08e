// feederd: the orchestrator process. Owns the job store, serves the API, dispatches tasks to the
// queue and applies workers' status events, keeps the local worker pool alive, sends webhooks.
// On SIGTERM it stops taking requests, lets workers finish (or release) their tasks, applies
// their last events, and exits; a second SIGTERM/SIGINT shortens the wait.
import { RELEASE_PREFIX } from '../fleet/release.js';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPorts } from '../backends.js';
import type { LoadedConfig } from '../config.js';
import { defaultWorkers } from '../config.js';
import { NommerError } from '../errors.js';
import { createLogger } from '../log.js';
import { dataPaths, ensureDataDir, packageVersion } from '../paths.js';
import { readEndpointFileOrNone, writeEndpointFile } from '../client/endpoint-file.js';
import { newApiToken } from './api-guard.js';
import { DashboardSessions } from './sessions.js';
import { summarizeFleet } from './fleet-summary.js';
import { LocalFleet } from './local-fleet.js';
import { type ApiDeps, buildApi } from './api.js';
import { Outbox } from './outbox.js';
import { StatusApplier } from './status-applier.js';
import { Notifier } from './notifier.js';
import { openStore } from './store/index.js';
import { attachDelivery, Staging } from './staging.js';
import { attachChunkCleanup, chunksToRerun, sweepChunkLeftovers } from './chunk-cleanup.js';
import { attachFencing } from './fencing.js';
import { Watchdog, silenceLimitMs } from './watchdog.js';
import { takeBackLateWork } from './late-outputs.js';
import { FleetManager } from './fleet-manager.js';
import { spotAwarePrice, spotBookFor, workerSlotPrice } from '../fleet/spot-prices.js';
import { InstanceLedger } from './store/instance-ledger.js';
import { autoscalerConfig, openEc2Fleet } from '../fleet/open.js';
import { slotPricing } from '../fleet/prices.js';
import { BudgetWatch } from './budget-watch.js';
import { makeEstimator } from './estimator.js';
import { busyByWorker } from './store/index.js';
import { allowedS3Prefixes, requireBucket, reservedS3Prefixes } from '../aws-settings.js';
import { locateFfmpeg } from '../ffmpeg/locate.js';
import { makeChunkPlanner } from '../tasks/planner.js';
import { makeSceneReplanner } from './scene-replan.js';
import { Retention } from './retention.js';
import { Watcher } from './watcher.js';
import { PrefixWatcher } from './prefix-watcher.js';
import { EventRoutes } from './s3-watch.js';
import { z } from 'zod';

export interface FeederdOptions {
  host?: string;
  port?: number;
  workers?: number;
  /** Seconds workers get to finish their task on shutdown before they release it. */
  shutdownGraceSeconds?: number;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
/** On shutdown, batches of workers' last status events applied at most (each batch up to 50). */
const STATUS_DRAIN_ROUNDS = 20;

/** The token a previous run made and kept in feederd.json, if any (never a configured one). */
function keptToken(apiFile: string): string | undefined {
  // One that does not read back is none: this run writes a new one.
  const rec = readEndpointFileOrNone(apiFile);
  return rec?.generated && rec.token && rec.token.length >= 32 ? rec.token : undefined;
}

/** Whether a nommer feederd answers health at host:port (another data dir's: ours is not running). */
async function feederdAt(host: string, port: number): Promise<boolean> {
  const name = host.includes(':') ? `[${host}]` : host;
  try {
    const res = await fetch(`http://${name}:${port}/v1/health`, { signal: AbortSignal.timeout(2000) });
    const body = z.looseObject({ ok: z.literal(true), version: z.string() }).safeParse(await res.json());
    return res.ok && body.success;
  } catch {
    return false;
  }
}

export async function runFeederd(loaded: LoadedConfig, opts: FeederdOptions = {}): Promise<number> {
  const { config, home } = loaded;
  const host = opts.host ?? config.api.host;
  const port = opts.port ?? config.api.port;
  if (!LOOPBACK.test(host) && !config.api.token) {
    throw new NommerError('CONFIG_INVALID', `refusing to listen on ${host} without an API token`, {
      hint: 'set NOMMER_TOKEN (16+ characters) or api.token, or listen on 127.0.0.1',
    });
  }
  const paths = dataPaths(home);
  ensureDataDir(home);
  // Every request but health needs a token: the configured one, or one made at first start and
  // kept in feederd.json (0600) for the CLI and the next start.
  // A configured token is never kept: removing it from config revokes it.
  const generated = !config.api.token;
  const token = config.api.token ?? keptToken(paths.api) ?? newApiToken();
  const log = createLogger('nommer-feederd');
  const store = openStore(paths.db);
  const ports = await openPorts(config, home, store.db);
  // EC2 workers (aws backend, aws.ec2.maxInstances > 0): autoscaled; on start the manager adopts
  // instances tagged nommer:cluster=<queuePrefix> left by a previous feederd.
  const fleetLog = log.child({ part: 'fleet' });
  const ec2 =
    ports.backend === 'aws' && config.aws.ec2.maxInstances > 0
      ? await openEc2Fleet(config, { version: packageVersion(), home, log: fleetLog })
      : undefined;
  // One spot book for the ledger and for pricing the slot time of workers that say their type.
  const spotBook = ec2 ? spotBookFor(config, ec2.spotPrices, fleetLog) : undefined;
  if (ports.backend === 'aws') store.slotPriceOf = workerSlotPrice(config, spotBook);
  const fleetManager =
    ec2 &&
    new FleetManager({
      fleet: ec2.fleet,
      queue: ports.queue,
      config: autoscalerConfig(config),
      log: fleetLog,
      busySlots: () => busyByWorker(store),
      ledger: new InstanceLedger(store.db, spotAwarePrice(config, spotBook)),
    });
  const stop = new AbortController();
  const outbox = new Outbox(store, ports.queue, log);
  const statusApplier = new StatusApplier(store, ports.status, log, {
    onRefused: takeBackLateWork(store, ports.storage, log.child({ part: 'late-work' })),
    prepare: makeSceneReplanner(store, ports.storage),
  });
  const watchdog = new Watchdog(store, ports.queue, log.child({ part: 'watchdog' }), {
    silenceMs: silenceLimitMs(config.jobs.leaseSeconds),
    intervalMs: 2000,
  });
  const notifier = new Notifier(
    { secret: config.webhooks.secret, timeoutMs: config.webhooks.timeoutMs, maxAttempts: config.webhooks.maxAttempts },
    log,
  );
  const detach = notifier.attach(store);
  const detachChunkCleanup = attachChunkCleanup(store, ports.storage, log, {
    resweepMs: config.jobs.leaseSeconds * 3000,
  });
  const detachFencing = attachFencing(store, ports.control, log.child({ part: 'fencing' }));

  // aws: local inputs/outputs travel through the bucket's staging prefix; deliveries a previous
  // feederd left pending are finished now.
  let staging: Staging | undefined;
  let stopDelivery = async () => {};
  if (ports.backend === 'aws') {
    staging = new Staging(ports.storage, requireBucket(config), config.aws.stagingPrefix, log);
    const delivery = attachDelivery(store, staging, log.child({ part: 'delivery' }));
    delivery.start();
    stopDelivery = () => delivery.stop();
  }

  // Local fleet: `nommer worker` children (none on the aws backend).
  const wanted = ports.backend === 'local' ? (opts.workers ?? config.local.workers ?? defaultWorkers()) : 0;
  const fleet = new LocalFleet({
    home,
    wanted,
    configFile: loaded.filepath,
    shutdownGraceSeconds: opts.shutdownGraceSeconds ?? 20,
    workerLog: paths.workerLog,
    outputsOf: (id) => store.outputsOfWorker(id),
    log,
  });
  const stopTempSweep = store.subscribe((c) => {
    if (ports.backend !== 'local') return;
    if (c.event.type !== 'succeeded' && c.event.type !== 'failed' && c.event.type !== 'canceled') return;
    void fleet.sweepEndedJob(c.job.outputs.map((o) => o.uri));
  });

  // What a slot costs, kept in each new job; budgets are watched while jobs run.
  const pricing = slotPricing(config, ports.backend);
  const budgets = new BudgetWatch(store, log.child({ part: 'budget' }));
  // aws: watched S3 prefixes' routes in their buckets' notifications (s3-watch.ts).
  const eventRoutes = ports.bucketEvents && new EventRoutes(ports.bucketEvents, store.db);
  const apiDeps: ApiDeps = {
    store,
    version: packageVersion(),
    backend: ports.backend,
    token,
    hosts: [host, ...config.api.allowedHosts],
    checkHost: LOOPBACK.test(host),
    bodyLimitBytes: config.api.bodyLimitBytes,
    userPresets: config.presets,
    defaultPreset: config.defaultPreset,
    maxAttempts: config.jobs.maxAttempts,
    summary: async () => ({
      queue: await ports.queue.depth().catch(() => ({ waiting: -1, inFlight: -1 })),
      ...summarizeFleet(
        ec2 ? await ec2.fleet.list().catch(() => []) : await fleet.list(),
        busyByWorker(store),
        ec2 ? spotAwarePrice(config, spotBook) : undefined,
      ),
      // The autoscaler launched fewer than the backlog wanted: which limit held the queue back.
      ...(fleetManager?.heldBack ? { heldBack: fleetManager.heldBack } : {}),
    }),
    sessions: new DashboardSessions(),
    onWork: () => outbox.poke(),
    tasksToRerun: (jobId) => chunksToRerun(store, ports.storage, jobId),
    beforeRetry: () => statusApplier.drain(),
    stage: staging ? (input, outputs, opts) => staging!.stage(input, outputs, opts) : undefined,
    reservedPrefixes: ports.backend === 'aws' ? reservedS3Prefixes(config, RELEASE_PREFIX) : [],
    allowedS3Prefixes: ports.backend === 'aws' ? allowedS3Prefixes(config) : undefined,
    pricing,
    qualityMeasure: config.quality.measure,
    qualityGates: config.quality.gates,
    estimate: makeEstimator({
      history: () => store.pastSpeeds(),
      ffprobe: () => locateFfmpeg({ ffmpeg: config.ffmpeg.path, ffprobe: config.ffmpeg.ffprobePath }).ffprobe,
      usdPerSlotHour: () => pricing?.usdPerSlotHour,
      chunking: () => config.chunking,
      slots: () =>
        ports.backend === 'aws'
          ? Math.max(1, config.aws.ec2.maxInstances * config.aws.ec2.slotsPerInstance)
          : Math.max(1, wanted),
    }),
    planChunks: makeChunkPlanner({
      storage: ports.storage,
      ffprobe: () => locateFfmpeg({ ffmpeg: config.ffmpeg.path, ffprobe: config.ffmpeg.ffprobePath }).ffprobe,
      chunking: config.chunking,
      // Scene cuts are found by a task on the worker that reads the input (scene-replan.ts).
      scenesOnWorker: true,
      workers: () =>
        ports.backend === 'aws'
          ? Math.max(1, config.aws.ec2.maxInstances * config.aws.ec2.slotsPerInstance)
          : Math.max(1, wanted),
      // Chunks go under the job's scratch prefix: the data dir locally, the staging prefix on S3.
      scratchBase:
        ports.backend === 'aws'
          ? `s3://${requireBucket(config)}/${config.aws.stagingPrefix}chunks/`
          : `${join(home, 'chunks')}/`,
    }),
    eventRoutes,
    onWatch: () => {
      watcher.poke();
      prefixWatcher?.poke();
    },
  };
  const app = buildApi(apiDeps);
  // Watch folders make their jobs through the same submit path as the API (watcher.ts).
  const watcher = new Watcher(apiDeps, log.child({ part: 'watch' }), {
    settleMs: config.watch.settleSeconds * 1000,
    rescanMs: config.watch.rescanSeconds * 1000,
  });
  // aws: watched S3 prefixes, by their buckets' events on the ingest queue (prefix-watcher.ts).
  const prefixWatcher =
    eventRoutes &&
    new PrefixWatcher(apiDeps, eventRoutes, log.child({ part: 'watch' }), {
      checkMs: config.watch.rescanSeconds * 1000,
      waitSeconds: Math.min(20, Math.max(1, Math.round(config.watch.rescanSeconds))),
    });
  let address: string;
  try {
    address = await app.listen({ host, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // The default port held by another data dir's feederd: this one takes a free port (its
    // feederd.json says which; the CLI finds it there). A port asked for is not second-guessed.
    const another = code === 'EADDRINUSE' && opts.port === undefined && (await feederdAt(host, port));
    if (another) {
      address = await app.listen({ host, port: 0 }).catch((e) => {
        store.close();
        throw e;
      });
      log.warn(
        { port, url: address },
        'the default port is taken by another feederd (another data dir): listening on a free port',
      );
    } else {
      store.close();
      if (code === 'EADDRINUSE')
        throw new NommerError('USAGE', `port ${port} on ${host} is in use`, {
          hint: 'is feederd already running? (`nommer status`), or pick another --port',
        });
      throw err;
    }
  }
  const url = address;
  writeEndpointFile(paths.api, { url, pid: process.pid, token, ...(generated ? { generated } : {}) });
  writeFileSync(paths.pid, `${process.pid}\n`);
  log.info({ url, backend: ports.backend, workers: wanted, home }, 'feederd started');

  let signals = 0;
  const done = new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      signals++;
      if (signals === 1) {
        log.info({ signal: sig }, 'shutting down');
        resolve();
      } else {
        // Workers take a second SIGTERM as "release now": give them a few seconds to report the
        // release (so the job is queued again at once, not after its lease expires), then kill.
        log.warn({ signal: sig }, 'second signal: releasing tasks now');
        void fleet.releaseNow();
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

  // Budgets are watched once the events that waited for this feederd are applied: a job that
  // finished while feederd was down is not judged on its last heartbeat.
  void statusApplier
    .drain()
    .catch((err) => log.warn({ err: String(err) }, 'applying waiting status events failed'))
    .finally(() => budgets.start());
  // Leftovers of chunked jobs that ended while an earlier feederd was dying (in the background).
  void sweepChunkLeftovers(store, ports.storage, log).catch((err) =>
    log.warn({ err: String(err) }, 'sweeping chunk leftovers failed'),
  );
  const loops = Promise.all([
    outbox.run(stop.signal),
    statusApplier.run(stop.signal),
    watchdog.run(stop.signal),
    fleet.run(stop.signal),
    fleetManager?.run(stop.signal),
    watcher.run(stop.signal),
    prefixWatcher?.run(stop.signal),
    new Retention(store.db, log.child({ part: 'retention' }), { days: config.retention.days }).run(stop.signal),
  ]);
  await done;
  // Order matters: stop new work, let workers finish or release (their events still apply), then stop the loops.
  await app.close();
  const shutdownMs = ((opts.shutdownGraceSeconds ?? 20) + 10) * 1000;
  // The supervisor must not replace the workers we are stopping (stop() sees to that).
  await fleet.stop(shutdownMs);
  // Apply whatever the workers said last.
  for (let i = 0; i < STATUS_DRAIN_ROUNDS; i++) if ((await statusApplier.consumeOnce(0)) === 0) break;
  stop.abort();
  await loops;
  // EC2 workers are deliberately left running: they finish, idle out and power off by themselves.
  ec2?.close();
  await notifier.drain(3000);
  detach();
  detachChunkCleanup();
  detachFencing();
  stopTempSweep();
  await stopDelivery();
  budgets.stop();
  ports.close();
  store.close();
  // The token stays for the next start and for clients; the address goes with us.
  writeEndpointFile(paths.api, generated ? { token, generated } : {});
  rmSync(paths.pid, { force: true });
  log.info('feederd stopped');
  return 0;
}
