// The dashboard's routes on feederd's API port: the page (`/`, behind a session or the token; see
// api-guard.ts), its static files from the package (src/dashboard/public, read once), the login
// exchange (GET /login?code=…, a one-time code from sessions.ts for an HttpOnly SameSite=Strict
// cookie), and the calls `nommer dashboard` and the page make (a new login code, logout). The page
// talks to the same /v1 routes as the CLI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { packageRoot } from '../paths.js';
import { readCookie, sessionCookieName, type DashboardSessions } from './sessions.js';
import type { LoginCode, Ok } from '../api/contract.js';

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'format.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** No inline script or style, nothing from elsewhere, never in a frame (clickjacking). */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export function dashboardDir(): string {
  return join(packageRoot(), 'src', 'dashboard', 'public');
}

/**
 * The page's files; its formatters are the CLI's, as tsc compiled them (src/api/format.ts), found
 * from the package root: this module may run from the bundle (dist/bundle), whose URL says nothing
 * of where dist/src is.
 */
function assetPath(name: string): string {
  return name === 'format.js' ? join(packageRoot(), 'dist', 'src', 'api', 'format.js') : join(dashboardDir(), name);
}

const cache = new Map<string, Buffer>();
function asset(name: string): Buffer {
  let b = cache.get(name);
  if (!b) cache.set(name, (b = readFileSync(assetPath(name))));
  return b;
}

function page(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return reply
    .status(status)
    .headers({ ...SECURITY_HEADERS, 'cache-control': 'no-store' })
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
        // No icon to fetch: a browser would ask for /favicon.ico (a 404 the dashboard's page then logs).
        `<title>nommer: ${title}</title><link rel="stylesheet" href="/assets/style.css"><link rel="icon" href="data:,">` +
        `<main class="notice"><h1>${title}</h1>${body}</main>`,
    );
}

export function registerDashboard(app: FastifyInstance, sessions: DashboardSessions, port: () => number): void {
  const send = (reply: FastifyReply, name: string) =>
    reply
      .headers({ ...SECURITY_HEADERS, 'cache-control': name === 'index.html' ? 'no-store' : 'no-cache' })
      .type(TYPES[name]!)
      .send(asset(name));

  app.get('/', (_req, reply) => send(reply, 'index.html'));
  app.get<{ Params: { name: string } }>('/assets/:name', (req, reply) => {
    const name = req.params.name;
    if (name === 'index.html' || !Object.hasOwn(TYPES, name))
      return reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no asset ${name}`, retriable: false } });
    return send(reply, name);
  });

  app.get<{ Querystring: { code?: string } }>('/login', (req, reply) => {
    const s = typeof req.query.code === 'string' ? sessions.redeem(req.query.code) : null;
    if (!s)
      return page(
        reply,
        401,
        'This login link is spent or expired',
        '<p>A login link works once, within a minute. Run <code>nommer dashboard</code> again for a new one.</p>',
      );
    const maxAge = Math.floor((s.expiresAt - Date.now()) / 1000);
    void reply.header(
      'set-cookie',
      `${sessionCookieName(port())}=${s.session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`,
    );
    // A page, not a redirect: after a navigation from another site, a redirect's request would
    // not carry the new SameSite=Strict cookie; this page's own navigation does.
    return page(reply.header('refresh', '0; url=/'), 200, 'Logged in', '<p><a href="/">Open the dashboard</a></p>');
  });

  // Asked by `nommer dashboard` with the API token: the code for a login link.
  app.post('/v1/dashboard/login-codes', async () => {
    const c = sessions.issueCode();
    return {
      code: c.code,
      path: `/login?code=${c.code}`,
      expiresAt: new Date(c.expiresAt).toISOString(),
    } satisfies LoginCode;
  });
  app.post('/v1/dashboard/logout', async (req, reply) => {
    const name = sessionCookieName(port());
    sessions.end(readCookie(req.headers.cookie, name));
    void reply.header('set-cookie', `${name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    return { ok: true } satisfies Ok;
  });
}
