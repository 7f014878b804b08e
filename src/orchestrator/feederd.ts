// feederd: the orchestrator process. Owns the job store, serves the API, dispatches tasks to the
// queue and applies workers' status events, keeps the local worker pool alive, sends webhooks.
// On SIGTERM it stops taking requests, lets workers finish (or release) their tasks, applies
// their last events, and exits; a second SIGTERM/SIGINT shortens the wait.
import { RELEASE_PREFIX } from '../fleet/release.js';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPorts, type Ports } from '../backends.js';
import type { Config, LoadedConfig } from '../config.js';
import { defaultWorkers } from '../config.js';
import { NommerError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
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
import { openStore, type Store } from './store/index.js';
import { attachDelivery, Staging } from './staging.js';
import { attachChunkCleanup, chunksToRerun, sweepChunkLeftovers } from './chunk-cleanup.js';
import { attachFencing } from './fencing.js';
import { Watchdog, silenceLimitMs } from './watchdog.js';
import { takeBackLateWork } from './late-outputs.js';
import { FleetManager } from './fleet-manager.js';
import { type SpotPriceBook, spotAwarePrice, spotBookFor, workerSlotPrice } from '../fleet/spot-prices.js';
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
import * as z from 'zod';
import type { FastifyInstance } from 'fastify';

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

type Ec2 = Awaited<ReturnType<typeof openEc2Fleet>>;

/** The EC2 side of the fleet: all absent on the local backend and when no instance may launch. */
interface Ec2Workers {
  ec2?: Ec2;
  spotBook?: SpotPriceBook;
  fleetManager?: FleetManager;
}

/** The loops that move jobs along, and the store listeners that follow their changes. */
interface JobServices {
  outbox: Outbox;
  statusApplier: StatusApplier;
  watchdog: Watchdog;
  notifier: Notifier;
  /** Unsubscribes the notifier, the chunk cleanup and the fencing from the store. */
  detach(): void;
}

/** Everything the API is built from, besides the config. */
interface Parts extends Ec2Workers, JobServices {
  store: Store;
  ports: Ports;
  log: Logger;
  /** How many local workers feederd keeps (0 on the aws backend). */
  wanted: number;
  fleet: LocalFleet;
  /** aws: where local inputs and outputs travel through the bucket. */
  staging?: Staging;
  stopDelivery(): Promise<void>;
  stopTempSweep(): void;
  budgets: BudgetWatch;
}

/** What feederd runs between its start and its shutdown. */
interface Running extends Parts {
  app: FastifyInstance;
  watcher: Watcher;
  prefixWatcher?: PrefixWatcher;
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
  const parts = await startParts(loaded, opts);
  const running: Running = { ...parts, ...serveApi(loaded, parts, host, token) };
  const url = await listen(running, host, port, opts.port === undefined);
  writeEndpointFile(paths.api, { url, pid: process.pid, token, ...(generated ? { generated } : {}) });
  writeFileSync(paths.pid, `${process.pid}\n`);
  parts.log.info({ url, backend: parts.ports.backend, workers: parts.wanted, home }, 'feederd started');

  const done = untilSignal(running);
  const stopLoops = runLoops(running, config.retention.days);
  await done;
  await shutDown(running, stopLoops, opts.shutdownGraceSeconds ?? 20);
  // The token stays for the next start and for clients; the address goes with us.
  writeEndpointFile(paths.api, generated ? { token, generated } : {});
  rmSync(paths.pid, { force: true });
  parts.log.info('feederd stopped');
  return 0;
}

/** Opens the store and the ports, and starts what works on jobs (none of it listens yet). */
async function startParts(loaded: LoadedConfig, opts: FeederdOptions): Promise<Parts> {
  const { config, home } = loaded;
  const paths = dataPaths(home);
  const log = createLogger('nommer-feederd');
  const store = openStore(paths.db);
  const ports = await openPorts(config, home, store.db);
  const ec2Workers = await openEc2Workers(config, home, store, ports, log);
  const services = startJobServices(config, store, ports, log);
  const delivery = startDelivery(config, store, ports, log);
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
  // Local workers leave temporary files beside the outputs: removed once the job has ended.
  const stopTempSweep = store.subscribe((c) => {
    if (ports.backend !== 'local') return;
    if (c.event.type !== 'succeeded' && c.event.type !== 'failed' && c.event.type !== 'canceled') return;
    void fleet.sweepEndedJob(c.job.outputs.map((o) => o.uri));
  });
  // Budgets are watched while jobs run (started once the waiting events are applied: runLoops).
  const budgets = new BudgetWatch(store, log.child({ part: 'budget' }));
  return { store, ports, log, wanted, fleet, stopTempSweep, budgets, ...ec2Workers, ...services, ...delivery };
}

/**
 * EC2 workers (aws backend, aws.ec2.maxInstances > 0): autoscaled; on start the manager adopts
 * instances tagged nommer:cluster=<queuePrefix> left by a previous feederd.
 */
async function openEc2Workers(
  config: Config,
  home: string,
  store: Store,
  ports: Ports,
  log: Logger,
): Promise<Ec2Workers> {
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
  return { ec2, spotBook, fleetManager };
}

/** Dispatch, status events, silent workers, webhooks, chunk cleanup and cancel fences. */
function startJobServices(config: Config, store: Store, ports: Ports, log: Logger): JobServices {
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
  const detachNotifier = notifier.attach(store);
  const detachChunkCleanup = attachChunkCleanup(store, ports.storage, log, {
    resweepMs: config.jobs.leaseSeconds * 3000,
  });
  const detachFencing = attachFencing(store, ports.control, log.child({ part: 'fencing' }));
  const detach = () => {
    detachNotifier();
    detachChunkCleanup();
    detachFencing();
  };
  return { outbox, statusApplier, watchdog, notifier, detach };
}

/**
 * aws: local inputs/outputs travel through the bucket's staging prefix; deliveries a previous
 * feederd left pending are finished now. Nothing to do locally.
 */
function startDelivery(
  config: Config,
  store: Store,
  ports: Ports,
  log: Logger,
): { staging?: Staging; stopDelivery(): Promise<void> } {
  if (ports.backend !== 'aws') return { stopDelivery: async () => {} };
  const staging = new Staging(ports.storage, requireBucket(config), config.aws.stagingPrefix, log);
  const delivery = attachDelivery(store, staging, log.child({ part: 'delivery' }));
  delivery.start();
  return { staging, stopDelivery: () => delivery.stop() };
}

/** Builds the API and the watch-folder watchers (they make jobs through the API's submit path). */
function serveApi(
  loaded: LoadedConfig,
  parts: Parts,
  host: string,
  token: string,
): Pick<Running, 'app' | 'watcher' | 'prefixWatcher'> {
  const { config } = loaded;
  // aws: watched S3 prefixes' routes in their buckets' notifications (s3-watch.ts).
  const eventRoutes = parts.ports.bucketEvents && new EventRoutes(parts.ports.bucketEvents, parts.store.db);
  const apiDeps = apiDepsOf(loaded, parts, host, token, eventRoutes, () => {
    watcher.poke();
    prefixWatcher?.poke();
  });
  const app = buildApi(apiDeps);
  // Watch folders make their jobs through the same submit path as the API (watcher.ts).
  const watcher = new Watcher(apiDeps, parts.log.child({ part: 'watch' }), {
    settleMs: config.watch.settleSeconds * 1000,
    rescanMs: config.watch.rescanSeconds * 1000,
  });
  // aws: watched S3 prefixes, by their buckets' events on the ingest queue (prefix-watcher.ts).
  const prefixWatcher =
    eventRoutes &&
    new PrefixWatcher(apiDeps, eventRoutes, parts.log.child({ part: 'watch' }), {
      checkMs: config.watch.rescanSeconds * 1000,
      waitSeconds: Math.min(20, Math.max(1, Math.round(config.watch.rescanSeconds))),
    });
  return { app, watcher, prefixWatcher };
}

/** What the API's routes call into: the store, the running parts, and the config's limits. */
function apiDepsOf(
  loaded: LoadedConfig,
  parts: Parts,
  host: string,
  token: string,
  eventRoutes: EventRoutes | undefined,
  onWatch: () => void,
): ApiDeps {
  const { config } = loaded;
  const { store, ports, outbox, statusApplier, staging } = parts;
  // What a slot costs, kept in each new job.
  const pricing = slotPricing(config, ports.backend);
  return {
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
    summary: () => summaryOf(config, parts),
    sessions: new DashboardSessions(),
    onWork: () => outbox.poke(),
    tasksToRerun: (jobId) => chunksToRerun(store, ports.storage, jobId),
    beforeRetry: () => statusApplier.drain(),
    stage: staging ? (input, outputs, opts) => staging.stage(input, outputs, opts) : undefined,
    reservedPrefixes: ports.backend === 'aws' ? reservedS3Prefixes(config, RELEASE_PREFIX) : [],
    allowedS3Prefixes: ports.backend === 'aws' ? allowedS3Prefixes(config) : undefined,
    pricing,
    qualityMeasure: config.quality.measure,
    qualityGates: config.quality.gates,
    estimate: makeEstimator({
      history: () => store.pastSpeeds(),
      ffprobe: () => ffprobeOf(config),
      usdPerSlotHour: () => pricing?.usdPerSlotHour,
      chunking: () => config.chunking,
      slots: () => slotsOf(config, parts),
    }),
    planChunks: makeChunkPlanner({
      storage: ports.storage,
      ffprobe: () => ffprobeOf(config),
      chunking: config.chunking,
      // Scene cuts are found by a task on the worker that reads the input (scene-replan.ts).
      scenesOnWorker: true,
      workers: () => slotsOf(config, parts),
      // Chunks go under the job's scratch prefix: the data dir locally, the staging prefix on S3.
      scratchBase:
        ports.backend === 'aws'
          ? `s3://${requireBucket(config)}/${config.aws.stagingPrefix}chunks/`
          : `${join(loaded.home, 'chunks')}/`,
    }),
    eventRoutes,
    onWatch,
  };
}

/** Looked up at each use, as a job is estimated or planned. */
function ffprobeOf(config: Config): string {
  return locateFfmpeg({ ffmpeg: config.ffmpeg.path, ffprobe: config.ffmpeg.ffprobePath }).ffprobe;
}

/** Encodes that may run at once: the EC2 fleet's slots at its largest, or the local workers. */
function slotsOf(config: Config, parts: Parts): number {
  return parts.ports.backend === 'aws'
    ? Math.max(1, config.aws.ec2.maxInstances * config.aws.ec2.slotsPerInstance)
    : Math.max(1, parts.wanted);
}

/** The queue and the fleet as the summary route shows them; a failing look-up shows as empty. */
async function summaryOf(config: Config, parts: Parts): Promise<Awaited<ReturnType<ApiDeps['summary']>>> {
  const { ec2, fleet, store, spotBook, fleetManager } = parts;
  return {
    queue: await parts.ports.queue.depth().catch(() => ({ waiting: -1, inFlight: -1 })),
    ...summarizeFleet(
      ec2 ? await ec2.fleet.list().catch(() => []) : await fleet.list(),
      busyByWorker(store),
      ec2 ? spotAwarePrice(config, spotBook) : undefined,
    ),
    // The autoscaler launched fewer than the backlog wanted: which limit held the queue back.
    ...(fleetManager?.heldBack ? { heldBack: fleetManager.heldBack } : {}),
  };
}

/**
 * Listens on host:port and returns the address. The store is closed when it cannot: the caller
 * only sees the error.
 */
async function listen(running: Running, host: string, port: number, defaultPort: boolean): Promise<string> {
  const { app, store, log } = running;
  try {
    return await app.listen({ host, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // The default port held by another data dir's feederd: this one takes a free port (its
    // feederd.json says which; the CLI finds it there). A port asked for is not second-guessed.
    const another = code === 'EADDRINUSE' && defaultPort && (await feederdAt(host, port));
    if (!another) {
      store.close();
      if (code === 'EADDRINUSE')
        throw new NommerError('USAGE', `port ${port} on ${host} is in use`, {
          hint: 'is feederd already running? (`nommer status`), or pick another --port',
        });
      throw err;
    }
    const address = await app.listen({ host, port: 0 }).catch((e) => {
      store.close();
      throw e;
    });
    log.warn(
      { port, url: address },
      'the default port is taken by another feederd (another data dir): listening on a free port',
    );
    return address;
  }
}

/** Resolves at the first SIGTERM/SIGINT; a second one makes the workers release their tasks now. */
function untilSignal(running: Running): Promise<void> {
  const { fleet, log } = running;
  let signals = 0;
  return new Promise<void>((resolve) => {
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
}

/**
 * Catches up with what happened while feederd was down and runs every loop; returns what stops
 * them (and resolves once they all have).
 */
function runLoops(running: Running, retentionDays: number): () => Promise<unknown> {
  const { store, ports, log, statusApplier, budgets } = running;
  const stop = new AbortController();
  const signal = stop.signal;
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
    running.outbox.run(signal),
    statusApplier.run(signal),
    running.watchdog.run(signal),
    running.fleet.run(signal),
    running.fleetManager?.run(signal),
    running.watcher.run(signal),
    running.prefixWatcher?.run(signal),
    new Retention(store.db, log.child({ part: 'retention' }), { days: retentionDays }).run(signal),
  ]);
  return () => {
    stop.abort();
    return loops;
  };
}

/** Stops in an order that loses nothing a worker reports on its way out. */
async function shutDown(running: Running, stopLoops: () => Promise<unknown>, graceSeconds: number): Promise<void> {
  const { app, fleet, statusApplier, store, ports } = running;
  // Order matters: stop new work, let workers finish or release (their events still apply), then stop the loops.
  await app.close();
  const shutdownMs = (graceSeconds + 10) * 1000;
  // The supervisor must not replace the workers we are stopping (stop() sees to that).
  await fleet.stop(shutdownMs);
  // Apply whatever the workers said last.
  for (let i = 0; i < STATUS_DRAIN_ROUNDS; i++) if ((await statusApplier.consumeOnce(0)) === 0) break;
  await stopLoops();
  // EC2 workers are deliberately left running: they finish, idle out and power off by themselves.
  running.ec2?.close();
  await running.notifier.drain(3000);
  running.detach();
  running.stopTempSweep();
  await running.stopDelivery();
  running.budgets.stop();
  ports.close();
  store.close();
}
