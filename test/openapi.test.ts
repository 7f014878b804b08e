// GET /v1/openapi.json: a valid OpenAPI 3.1 document (checked by @seriousme/openapi-schema-validator,
// which validates against the OpenAPI Initiative's own schemas), behind the token like the rest,
// and listing exactly the routes feederd serves: a route added to the API but not to the contract's
// table (api/openapi.ts) fails here. Against the real API on a real store, in process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import { tempDir } from './helpers/media.js';
import { buildApi, registeredRoutes, type ApiDeps, type RegisteredRoute } from '../src/orchestrator/api.js';
import { openApiPath } from '../src/api/openapi.js';
import { DashboardSessions } from '../src/orchestrator/sessions.js';
import { openStore, type Store } from '../src/orchestrator/store/index.js';
import { ApiClient } from '../src/client/api-client.js';

const TOKEN = 'openapi-test-token';
const dir = tempDir('nommer-openapi-');
let store: Store;
const apps: FastifyInstance[] = [];
before(() => {
  store = openStore(join(dir.path, 'jobs.db'));
});
after(async () => {
  for (const app of apps) await app.close();
  store.close();
  dir.cleanup();
});

function deps(over: Partial<ApiDeps> = {}): ApiDeps {
  return {
    store,
    version: '9.9.9-test',
    backend: 'local',
    token: TOKEN,
    // inject's Host is localhost:80; the Host check has its own tests (api-security).
    checkHost: false,
    bodyLimitBytes: 1 << 20,
    userPresets: {},
    defaultPreset: 'webm',
    maxAttempts: 3,
    onWork: () => undefined,
    summary: async () => ({ queue: { waiting: 0, inFlight: 0 }, fleet: [] }),
    sessions: new DashboardSessions(),
    ...over,
  };
}

function api(over: Partial<ApiDeps> = {}): FastifyInstance {
  const app = buildApi(deps(over));
  apps.push(app);
  return app;
}

interface OpenApiDoc {
  info: { version: string };
  paths: Record<string, Record<string, { security?: unknown[] }>>;
}

async function documentOf(app: FastifyInstance): Promise<OpenApiDoc> {
  const r = await app.inject({ method: 'GET', url: '/v1/openapi.json', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.statusCode, 200, r.body);
  return r.json<OpenApiDoc>();
}

/** `GET /v1/jobs/{id}` for each route fastify serves (HEAD aside), and for each the document lists. */
const served = (routes: readonly RegisteredRoute[]) => new Set(routes.map((r) => `${r.method} ${openApiPath(r.url)}`));
const documented = (doc: OpenApiDoc) =>
  new Set(
    Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)),
  );
const missing = (from: Set<string>, inside: Set<string>) => [...from].filter((r) => !inside.has(r)).sort();

test('the document is valid OpenAPI 3.1 and carries feederd version', async () => {
  const doc = await documentOf(api());
  const v = new Validator();
  const r = await v.validate({ ...doc });
  assert.equal(v.version, '3.1');
  assert.ok(r.valid, JSON.stringify(r.errors, null, 1));
  assert.equal(doc.info.version, '9.9.9-test');
});

test('it lists every route feederd serves, and no other', async () => {
  const app = api();
  const doc = await documentOf(app);
  const routes = served(registeredRoutes(app));
  // The routes the CLI and the dashboard call are among them.
  for (const r of [
    'GET /v1/health',
    'POST /v1/jobs',
    'GET /v1/jobs',
    'GET /v1/jobs/{id}',
    'POST /v1/jobs/{id}/cancel',
    'POST /v1/jobs/{id}/retry',
    'GET /v1/jobs/{id}/events',
    'GET /v1/events',
    'GET /v1/presets',
    'GET /v1/summary',
    'POST /v1/watches',
    'GET /v1/watches',
    'DELETE /v1/watches/{id}',
    'POST /v1/dashboard/login-codes',
    'POST /v1/dashboard/logout',
    'GET /',
    'GET /assets/{name}',
    'GET /login',
  ])
    assert.ok(routes.has(r), `feederd serves ${r}`);
  assert.deepEqual(missing(routes, documented(doc)), [], 'served but not in /v1/openapi.json');
  assert.deepEqual(missing(documented(doc), routes), [], 'in /v1/openapi.json but not served');
});

test('a route served without being documented is caught', async () => {
  const app = api();
  app.get('/v1/undocumented', async () => ({}));
  const doc = await documentOf(app);
  assert.deepEqual(missing(served(registeredRoutes(app)), documented(doc)), ['GET /v1/undocumented']);
});

test('the document is behind the token, as the routes it describes', async () => {
  const app = api();
  const none = await app.inject({ method: 'GET', url: '/v1/openapi.json' });
  assert.equal(none.statusCode, 401);
  const wrong = await app.inject({ method: 'GET', url: '/v1/openapi.json', headers: { authorization: 'Bearer nope' } });
  assert.equal(wrong.statusCode, 401);
  // What the document says is open is open: health, the login exchange, the page's assets.
  const doc = await documentOf(app);
  const open = Object.entries(doc.paths)
    .flatMap(([p, ops]) => Object.entries(ops).map(([m, op]) => (op.security?.length === 0 ? `${m} ${p}` : '')))
    .filter(Boolean)
    .sort();
  assert.deepEqual(open, ['get /assets/{name}', 'get /login', 'get /v1/health']);
});

test('the client reads the summary through the contract, the fleet held back included', async () => {
  const app = api({
    summary: async () => ({
      queue: { waiting: 7, inFlight: 1 },
      fleet: [{ id: 'i-1', state: 'running', busy: true, kind: 'ec2', instanceType: 'c7g.large' }],
      heldBack: { by: 'maxHourlySpend', reason: '$0.40/h of $0.40/h' },
    }),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const client = new ApiClient({ url: `http://127.0.0.1:${port}`, token: TOKEN });
  const s = await client.summary();
  assert.deepEqual(s.heldBack, { by: 'maxHourlySpend', reason: '$0.40/h of $0.40/h' });
  assert.equal(s.queue.waiting, 7);
  assert.equal((await client.health()).version, '9.9.9-test');
});
