// GET /v1/openapi.json: feederd's API as an OpenAPI 3.1 document, generated from the contract's
// zod schemas (contract.ts) with zod's own JSON Schema converter. OpenAPI 3.1's schema dialect is
// JSON Schema 2020-12, zod's default target, so the schemas go in as zod writes them; only the
// routes around them are written here. A route feederd serves and this table lacks fails
// test/openapi.test.ts.
import * as z from 'zod';
import * as c from './contract.js';

type Method = 'get' | 'post' | 'delete';

export interface RouteDoc {
  method: Method;
  /** OpenAPI's form: `/v1/jobs/{id}`. */
  path: string;
  summary: string;
  /** Open without the token or a dashboard session (api-guard.ts isOpenPath). */
  open?: boolean;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** JSON answers by status. */
  responses?: Record<number, { description: string; schema: z.ZodType }>;
  /** A server-sent event stream: its event names and each one's data. */
  events?: Record<string, z.ZodType>;
  /** Not JSON: an HTML page or a static file. */
  page?: string;
}

export const ROUTES: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/v1/health',
    summary: 'Whether feederd answers, its version and backend',
    open: true,
    responses: { 200: { description: 'up', schema: c.health() } },
  },
  {
    method: 'post',
    path: '/v1/jobs',
    summary: 'Create a job (or, with dryRun, resolve its outputs and estimate it)',
    body: c.createJobBody(),
    responses: {
      201: { description: 'created', schema: c.created() },
      200: {
        description: 'the job of the same idempotency key, or a dry run',
        schema: z.union([c.created(), c.dryRun()]),
      },
    },
  },
  {
    method: 'get',
    path: '/v1/jobs',
    summary: 'Jobs, newest first, a page at a time',
    query: c.listJobsQuery(),
    responses: { 200: { description: 'a page', schema: c.jobPage() } },
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}',
    summary: 'A job with its tasks and history',
    responses: { 200: { description: 'the job', schema: c.jobDetail() } },
  },
  {
    method: 'post',
    path: '/v1/jobs/{id}/cancel',
    summary: 'Cancel a job that is not final',
    responses: { 200: { description: 'the job, canceled', schema: c.jobAnswer() } },
  },
  {
    method: 'post',
    path: '/v1/jobs/{id}/retry',
    summary: 'Run a failed or canceled job again',
    responses: { 200: { description: 'the job, queued', schema: c.jobAnswer() } },
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}/events',
    summary: "A job's history after Last-Event-ID, a snapshot, its live changes, then `end`",
    events: c.jobStreamEvents(),
  },
  {
    method: 'get',
    path: '/v1/events',
    summary: "A snapshot of the newest jobs, then every job's changes (the dashboard's list)",
    query: c.eventsQuery(),
    events: c.allJobsStreamEvents(),
  },
  {
    method: 'get',
    path: '/v1/presets',
    summary: 'The presets a job may name',
    responses: { 200: { description: 'presets', schema: c.presetList() } },
  },
  {
    method: 'get',
    path: '/v1/summary',
    summary: 'Jobs by state, the queue and the fleet',
    responses: { 200: { description: 'the summary', schema: c.summary() } },
  },
  {
    method: 'post',
    path: '/v1/watches',
    summary: 'Watch a folder (or, aws backend, an S3 prefix): each file that arrives there, once whole, becomes a job',
    body: c.createWatchBody(),
    responses: { 201: { description: 'the watch, checked and stored', schema: c.watchAnswer() } },
  },
  {
    method: 'get',
    path: '/v1/watches',
    summary: 'The watches, with what feederd last found at each source and how many files each took',
    responses: { 200: { description: 'the watches', schema: c.watchList() } },
  },
  {
    method: 'delete',
    path: '/v1/watches/{id}',
    summary: 'Stop a watch (the jobs it made stay)',
    responses: { 200: { description: 'the watch as it was', schema: c.watchAnswer() } },
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3.1', schema: z.record(z.string(), z.unknown()) } },
  },
  {
    method: 'post',
    path: '/v1/dashboard/login-codes',
    summary: 'A one-time dashboard login link (API token only, not a session)',
    responses: { 200: { description: 'the code and its link', schema: c.loginCode() } },
  },
  {
    method: 'post',
    path: '/v1/dashboard/logout',
    summary: "End the dashboard session the request's cookie names",
    responses: { 200: { description: 'logged out', schema: c.ok() } },
  },
  { method: 'get', path: '/', summary: 'The dashboard page', page: 'text/html' },
  {
    method: 'get',
    path: '/assets/{name}',
    summary: "The dashboard's script, formatters and style",
    open: true,
    page: '*/*',
  },
  {
    method: 'get',
    path: '/login',
    summary: 'Exchange a one-time login code for a dashboard session cookie',
    open: true,
    page: 'text/html',
  },
];

/** fastify's `/v1/jobs/:id` as OpenAPI writes it. */
export const openApiPath = (fastifyPath: string): string => fastifyPath.replace(/:([A-Za-z]+)/g, '{$1}');

type Json = Record<string, unknown>;

/** Schemas with an id (`.meta({id})`) go to components, each once; the rest stay inline. */
class Components {
  readonly schemas: Record<string, Json> = {};

  add(schema: z.ZodType, io: 'input' | 'output'): Json {
    const {
      $schema: _,
      $defs,
      ...rest
    } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json & {
      $defs?: Record<string, Json>;
    };
    for (const [name, def] of Object.entries($defs ?? {})) {
      const known = this.schemas[name];
      if (known && JSON.stringify(known) !== JSON.stringify(relink(def)))
        throw new Error(`two schemas are named ${name} in the API contract`);
      this.schemas[name] = relink(def);
    }
    return relink(rest);
  }
}

/** zod's `#/$defs/X` references, pointed at the document's components. */
function relink(s: Json): Json {
  return JSON.parse(JSON.stringify(s).replaceAll('"#/$defs/', '"#/components/schemas/'));
}

const json = (schema: Json) => ({ 'application/json': { schema } });

function operation(r: RouteDoc, comps: Components): Json {
  const params = [
    ...(r.path.includes('{id}') ? [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }] : []),
    ...(r.path.includes('{name}') ? [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }] : []),
    ...Object.entries(r.query ? (comps.add(r.query, 'input').properties as Record<string, Json>) : {}).map(
      ([name, schema]) => ({ name, in: 'query', required: false, schema }),
    ),
  ];
  const responses: Json = {};
  for (const [status, a] of Object.entries(r.responses ?? {}))
    responses[status] = { description: a.description, content: json(comps.add(a.schema, 'output')) };
  if (r.events)
    responses[200] = {
      description: `server-sent events: ${Object.keys(r.events).join(', ')}; each event's data is one line of JSON`,
      content: {
        'text/event-stream': {
          schema: {
            oneOf: Object.entries(r.events).map(([event, data]) => ({
              type: 'object',
              properties: { event: { const: event }, data: comps.add(data, 'output') },
              required: ['event', 'data'],
            })),
          },
        },
      },
    };
  if (r.page) responses[200] = { description: r.summary, content: { [r.page]: { schema: { type: 'string' } } } };
  responses.default = { description: 'an error', content: json(comps.add(c.errorBody(), 'output')) };
  return {
    summary: r.summary,
    operationId: `${r.method} ${r.path}`,
    ...(params.length ? { parameters: params } : {}),
    ...(r.body ? { requestBody: { required: true, content: json(comps.add(r.body, 'input')) } } : {}),
    ...(r.open ? { security: [] } : {}),
    responses,
  };
}

/** The document; `version` is feederd's. */
export function openApiDocument(version: string): Json {
  const comps = new Components();
  const paths: Record<string, Json> = {};
  for (const r of ROUTES) paths[r.path] = { ...paths[r.path], [r.method]: operation(r, comps) };
  return {
    openapi: '3.1.0',
    info: {
      title: 'nommer feederd',
      version,
      description: 'Jobs, their event streams, the fleet summary, and the dashboard, under one bearer token.',
    },
    security: [{ token: [] }, { session: [] }],
    paths,
    components: {
      schemas: comps.schemas,
      securitySchemes: {
        token: { type: 'http', scheme: 'bearer', description: "feederd's API token (feederd.json in the data dir)" },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'nommer_session_<port>',
          description: 'The dashboard session from GET /login; changes need a JSON body',
        },
      },
    },
  };
}
