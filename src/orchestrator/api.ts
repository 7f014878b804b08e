// feederd's JSON API (fastify), versioned under /v1: create (submit-job.ts), list, get, cancel and
// retry jobs, a server-sent event stream per job (job-stream.ts), health, and the fleet/queue
// summary. This file is transport: routes, status codes, auth. Bodies are validated;
// errors are JSON {error: {code, message, retriable}}. Who may call it: api-guard.ts (token,
// Host, Origin, JSON bodies, the dashboard's session cookie). The dashboard's page and login
// routes: dashboard-routes.ts; every job's event stream (GET /v1/events) is the page's.
import Fastify, { type FastifyInstance } from 'fastify';
import { NommerError, asNommerError } from '../errors.js';
import { FINAL_STATES } from '../jobs/types.js';
import {
  eventsQuery,
  listJobsQuery,
  type Created,
  type Health,
  type JobAnswer,
  type JobPage,
  type PresetList,
  type Summary,
  type DryRunView,
} from '../api/contract.js';

export type { PublicJob } from '../api/contract.js';
export { parseStates, publicEvent, publicJob, publicJobDetail } from './public-views.js';
import { createJobFrom, validation, type JobCreatorDeps } from './submit-job.js';
import type { JobDetail, Store } from './store/index.js';
import { JobStreams } from './job-stream.js';
import { installGuard } from './api-guard.js';
import { parseStates, publicEvent, publicJob, publicJobDetail } from './public-views.js';
import { listPresets } from '../presets/registry.js';
import { registerDashboard } from './dashboard-routes.js';
import type { DashboardSessions } from './sessions.js';
import { registerWatchRoutes, type WatchRouteDeps } from './watch-routes.js';

export interface ApiDeps extends JobCreatorDeps, WatchRouteDeps {
  store: Store;
  version: string;
  backend: string;
  /** Bearer token for every route but health (feederd always sets one; see api-guard.ts). */
  token?: string;
  /** Host names besides loopback's that name this API. */
  hosts?: string[];
  /** Check the Host header (api-guard.ts); feederd turns it off when listening beyond loopback. */
  checkHost?: boolean;
  bodyLimitBytes: number;
  /** Queue depth and fleet, for the summary. */
  summary: () => Promise<{
    queue: { waiting: number; inFlight: number };
    fleet: Array<{
      id: string;
      state: string;
      busy?: boolean;
      kind?: string;
      instanceType?: string;
      spot?: boolean;
      launchedAt?: string;
    }>;
    /** EC2 fleets: what the instances have cost so far (an estimate from aws.ec2.prices). */
    spend?: { usd: number; upperBound: boolean; unpriced: string[] };
    /** The autoscaler launched fewer than the backlog wanted: which limit held the queue back. */
    heldBack?: Summary['heldBack'];
  }>;
  /**
   * Before a failed or canceled job is retried: the succeeded tasks whose results are gone (a
   * chunked job's pieces removed by cleanup), to be run again. (Workers learn of cancels from the
   * fences the store's changes raise: see fencing.ts.)
   */
  tasksToRerun?: (jobId: string) => Promise<string[]>;
  /** Before any retry: apply the status events already waiting (status-applier.ts drain). */
  beforeRetry?: () => Promise<void>;
  /** The jobs' event streams (limits, counts; see job-stream.ts). Default: one with its defaults. */
  jobStreams?: JobStreams;
  /** Dashboard logins: with them feederd serves the dashboard (dashboard-routes.ts). */
  sessions?: DashboardSessions;
}

function httpStatusFor(e: NommerError): number {
  switch (e.code) {
    case 'JOB_NOT_FOUND':
    case 'WATCH_NOT_FOUND':
      return 404;
    case 'UNAUTHORIZED':
      return 401;
    case 'JOB_STATE':
      return 409;
    case 'BUDGET_EXCEEDED':
      return 402;
    case 'INTERNAL':
      return 500;
    default:
      return 400;
  }
}

export interface RegisteredRoute {
  method: string;
  /** fastify's form: `/v1/jobs/:id`. */
  url: string;
}
const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route an API built by buildApi serves (HEAD aside): what its OpenAPI document must list. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return registered.get(app) ?? [];
}

export function buildApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimitBytes,
    forceCloseConnections: true,
    schemaController: { compilersFactory: { buildValidator: noJsonSchemas, buildSerializer: noJsonSchemas } },
  });
  // Before any route: what is served, for the OpenAPI document's test.
  recordRoutes(app);
  answerErrorsAsJson(app);

  const port = () => {
    const addr = app.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  };
  installGuard(
    app,
    { token: deps.token, hosts: deps.hosts ?? [], checkHost: deps.checkHost, sessions: deps.sessions },
    port,
  );
  if (deps.sessions) registerDashboard(app, deps.sessions, port);
  registerWatchRoutes(app, deps);
  registerHealthRoutes(app, deps);
  registerJobRoutes(app, deps);
  registerJobActions(app, deps);
  registerInfoRoutes(app, deps);
  registerEventStreams(app, deps);
  return app;
}

/**
 * Routes check requests and shape answers with zod; none hands fastify a JSON schema. Fastify's
 * default compilers (ajv, fast-json-stringify) load when the app is built whether a route uses
 * them or not: feederd loaded 577 modules with them, 465 without. These stand in, and a route
 * given a JSON schema fails to register, saying so.
 */
function noJsonSchemas(): () => never {
  return () => {
    throw new Error('nommer routes validate with zod: fastify JSON schemas are not set up');
  };
}

/** Keeps the routes the app serves (HEAD aside), for registeredRoutes. */
function recordRoutes(app: FastifyInstance): void {
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push({ method, url: r.url });
  });
  registered.set(app, routes);
}

/** Every error, fastify's own and a missing route included, answers {error: {code, message, retriable}}. */
function answerErrorsAsJson(app: FastifyInstance): void {
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err.statusCode && err.statusCode < 500 && !(err instanceof NommerError)) {
      // fastify's own: body too large, bad JSON, wrong content type.
      return reply.status(err.statusCode).send({
        error: { code: err.statusCode === 413 ? 'BODY_TOO_LARGE' : 'USAGE', message: err.message, retriable: false },
      });
    }
    const e = asNommerError(err);
    void reply.status(httpStatusFor(e)).send({ error: { ...e.toInfo(), ...(e.hint ? { hint: e.hint } : {}) } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}`, retriable: false } }),
  );
}

/** The job a route names; JOB_NOT_FOUND (404) when there is none. */
function mustGet(store: Store, id: string): JobDetail {
  const j = store.getJob(id);
  if (!j) throw new NommerError('JOB_NOT_FOUND', `no job ${id}`, { hint: 'list jobs with `nommer status`' });
  return j;
}

/** Health, and the contract as OpenAPI 3.1 (api/openapi.ts), behind the token like the routes it describes. */
function registerHealthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/v1/health', async () => ({ ok: true, version: deps.version, backend: deps.backend }) satisfies Health);
  // Built at its first request, not at every start: its module builds a schema for every answer
  // of the contract, which feederd itself never parses.
  let openapi: Record<string, unknown> | undefined;
  app.get(
    '/v1/openapi.json',
    async () => (openapi ??= (await import('../api/openapi.js')).openApiDocument(deps.version)),
  );
}

/** Create, list and read jobs. */
function registerJobRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/v1/jobs', async (req, reply) => {
    const r = await createJobFrom(deps, req.body);
    if (r.dryRun)
      return reply
        .status(200)
        .send({ dryRun: true, input: r.input, outputs: r.outputs, estimate: r.estimate } satisfies DryRunView);
    return reply.status(r.created ? 201 : 200).send({ job: publicJob(r.job), created: r.created } satisfies Created);
  });

  app.get('/v1/jobs', async (req) => {
    const r = listJobsQuery().safeParse(req.query);
    if (!r.success) throw validation(r.error, 'query');
    const state = parseStates(r.data.state);
    const page = deps.store.listJobs({ state, limit: r.data.limit, cursor: r.data.cursor ?? null });
    return { jobs: page.jobs.map(publicJob), nextCursor: page.nextCursor } satisfies JobPage;
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (req) =>
    publicJobDetail(deps.store, mustGet(deps.store, req.params.id)),
  );
}

/** Cancel and retry: each refuses a job whose state does not allow it (JOB_STATE). */
function registerJobActions(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Params: { id: string } }>('/v1/jobs/:id/cancel', async (req) => {
    const j = mustGet(deps.store, req.params.id);
    if (FINAL_STATES.has(j.state))
      throw new NommerError('JOB_STATE', `job ${j.id} is already ${j.state}`, {
        hint: j.state === 'canceled' ? undefined : 'nothing to cancel',
      });
    const change = deps.store.cancelJob(j.id, { reason: 'canceled by request' });
    return { job: publicJob(change.job) } satisfies JobAnswer;
  });

  app.post<{ Params: { id: string } }>('/v1/jobs/:id/retry', async (req) => {
    const j = mustGet(deps.store, req.params.id);
    if (j.state !== 'failed' && j.state !== 'canceled')
      throw new NommerError('JOB_STATE', `job ${j.id} is ${j.state}; only failed or canceled jobs can be retried`);
    // Its cost so far stays with it: run again, it would pass the same limit at once.
    if (j.error?.code === 'BUDGET_EXCEEDED')
      throw new NommerError('JOB_STATE', `job ${j.id} was stopped at its cost limit; a retry would pass it again`, {
        hint: 'submit it again with a higher --max-cost',
      });
    // What workers said about the old attempt first (a late success's outputs are taken back).
    await deps.beforeRetry?.();
    const rerun = deps.tasksToRerun ? await deps.tasksToRerun(j.id) : [];
    const change = deps.store.retryJob(j.id, { rerun });
    deps.onWork();
    return { job: publicJob(change.job) } satisfies JobAnswer;
  });
}

/** The presets a job may name, and the jobs/queue/fleet summary. */
function registerInfoRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // With their own descriptions (the dashboard's picker).
  app.get(
    '/v1/presets',
    async () =>
      ({
        defaultPreset: deps.defaultPreset,
        presets: listPresets(deps.userPresets).map((p) => ({
          name: p.name,
          description: p.description ?? '',
          extension: p.extension,
        })),
      }) satisfies PresetList,
  );

  app.get('/v1/summary', async () => {
    const s = await deps.summary();
    return {
      jobs: deps.store.summarizeJobs(),
      queue: s.queue,
      fleet: s.fleet,
      ...(s.spend ? { spend: s.spend } : {}),
      ...(s.heldBack ? { heldBack: s.heldBack } : {}),
    } satisfies Summary;
  });
}

/**
 * Server-sent events of a job (job-stream.ts): history after Last-Event-ID, a snapshot, live
 * changes, then `end` when the job is final; and every job's changes, after a snapshot of the
 * newest (the dashboard's list).
 */
function registerEventStreams(app: FastifyInstance, deps: ApiDeps): void {
  const jobStreams = deps.jobStreams ?? new JobStreams({ store: deps.store, publicJob, publicEvent });
  app.get<{ Params: { id: string } }>('/v1/jobs/:id/events', (req, reply) => {
    jobStreams.handle(req, reply, mustGet(deps.store, req.params.id));
  });
  app.get('/v1/events', (req, reply) => {
    const r = eventsQuery().safeParse(req.query);
    if (!r.success) throw validation(r.error, 'query');
    jobStreams.handleAll(req, reply, r.data.limit);
  });
}
