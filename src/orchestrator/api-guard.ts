// Who may talk to feederd's API. Every request but GET /v1/health needs the bearer token (feederd
// always has one: configured, or made at first start and kept in the data dir's feederd.json,
// mode 0600). Before that, a request must name this API in `Host` (the listen address, localhost,
// 127.0.0.1 or [::1], with the port — so a DNS-rebinding page, whose Host is its own name, is
// refused), an `Origin`, when sent, must be the API's own, and a POST body must be JSON (a
// cross-site "simple" POST is text/plain or a form). Checked in that order, each a 4xx with the
// usual JSON error body.
//
// The dashboard's browser sends no bearer token: it holds a session cookie (sessions.ts; HttpOnly,
// SameSite=Strict) that stands for the token. A request that rests on the cookie alone and
// changes state must also carry an Origin (browsers send it on every fetch POST; ours only, as
// above) and a JSON body, so a cross-site form or a cookie replayed without a page cannot act.
// Open without either: health, the login exchange and the page's static assets (no data in them);
// the page itself answers 401 with a line saying how to log in.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readCookie, sessionCookieName, type DashboardSessions } from './sessions.js';

export interface GuardOptions {
  /** Bearer token; without one the API is open (tests that build it alone). */
  token?: string;
  /** Host names besides loopback's that name this API (the listen address, api.allowedHosts). */
  hosts: readonly string[];
  /**
   * Check Host (default true). Off when feederd listens beyond loopback (a token is then required
   * by config): clients reach it by names and ports (proxies, forwards) it cannot know, and a
   * rebinding page has no token.
   */
  checkHost?: boolean;
  /** Dashboard sessions: a valid session cookie stands for the token. */
  sessions?: DashboardSessions;
}

/** Routes anyone may call: health, the login-code exchange, the page's static files. */
export function isOpenPath(path: string): boolean {
  return path === '/v1/health' || path === '/login' || /^\/assets\/[a-z]+\.(js|css)$/.test(path);
}

const LOGIN_HELP =
  '<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
  '<title>nommer: log in</title><body style="font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em">' +
  '<h1>Not logged in</h1><p>Run <code>nommer dashboard</code> on the machine that runs feederd: it opens this ' +
  'page with a one-time login link (<code>nommer dashboard --print</code> prints the link instead).</p>';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const JSON_TYPE = /^application\/json\s*(;|$)/i;

/** A fresh API token: 32 random bytes, URL-safe. */
export function newApiToken(): string {
  return randomBytes(32).toString('base64url');
}

export function tokenMatches(expected: string, header: string | undefined): boolean {
  const given = header?.startsWith('Bearer ') ? header.slice(7) : '';
  // Hash both sides so the comparison is constant-time regardless of length.
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b) && given.length > 0;
}

/** `host[:port]` split, lower case; IPv6 literals keep their brackets. */
function splitHost(value: string): { name: string; port: string | null } {
  const v = value.trim().toLowerCase();
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(v);
  return m ? { name: m[1]!, port: m[2] ?? null } : { name: v, port: null };
}

function refuse(reply: FastifyReply, status: number, code: string, message: string, hint: string): FastifyReply {
  return reply.status(status).send({ error: { code, message, retriable: false, hint } });
}

/** What the checks share: the options, the port, and which `host[:port]` values name this API. */
interface Guard {
  opts: GuardOptions;
  port: () => number;
  ours(hostPort: string): boolean;
}

/** A check's answer: the refusal it sent, or undefined to let the request on. */
type Refusal = FastifyReply | undefined;

export function installGuard(app: FastifyInstance, opts: GuardOptions, port: () => number): void {
  const names = new Set([
    ...LOOPBACK_NAMES,
    ...opts.hosts.map((h) => (h.includes(':') && !h.startsWith('[') ? `[${h}]` : h).toLowerCase()),
  ]);
  const guard: Guard = {
    opts,
    port,
    ours: (hostPort) => {
      const { name, port: p } = splitHost(hostPort);
      return names.has(name) && (p ?? '80') === String(port());
    },
  };
  // Only JSON bodies: fastify would otherwise parse text/plain too.
  app.removeContentTypeParser('text/plain');
  // In the header's order: the first check that refuses answers, and no later one runs.
  app.addHook(
    'onRequest',
    async (req: FastifyRequest, reply: FastifyReply) =>
      refuseHost(req, reply, guard) ??
      refuseOrigin(req, reply, guard) ??
      refuseBodyType(req, reply) ??
      refuseCaller(req, reply, guard),
  );
}

/** A Host that does not name this API: what a DNS-rebinding page sends. */
function refuseHost(req: FastifyRequest, reply: FastifyReply, guard: Guard): Refusal {
  const host = req.headers.host ?? '';
  if (guard.opts.checkHost === false || guard.ours(host)) return undefined;
  return refuse(
    reply,
    421,
    'HOST_REFUSED',
    `this API does not answer to Host "${host}"`,
    'connect to 127.0.0.1 or localhost with the API port, or add the name to api.allowedHosts',
  );
}

/** An Origin, when sent, must be the API's own: no other web page may call it. */
function refuseOrigin(req: FastifyRequest, reply: FastifyReply, guard: Guard): Refusal {
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  const host = req.headers.host ?? '';
  let ok = false;
  try {
    const u = new URL(origin);
    ok =
      guard.opts.checkHost === false
        ? u.host.toLowerCase() === host.toLowerCase()
        : u.protocol === 'http:' && guard.ours(u.host);
  } catch {
    /* not a URL: refused below */
  }
  if (ok) return undefined;
  return refuse(
    reply,
    403,
    'ORIGIN_REFUSED',
    `requests from ${origin} are not allowed`,
    'the API serves no other web origin',
  );
}

/** A body that changes something must be JSON: a cross-site "simple" POST is text/plain or a form. */
function refuseBodyType(req: FastifyRequest, reply: FastifyReply): Refusal {
  if (req.method !== 'POST' && req.method !== 'PUT' && req.method !== 'PATCH' && req.method !== 'DELETE')
    return undefined;
  const type = req.headers['content-type'];
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if ((type === undefined && !hasBody) || JSON_TYPE.test(type ?? '')) return undefined;
  return refuse(
    reply,
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    `request bodies must be application/json, not ${type ?? 'untyped'}`,
    'send Content-Type: application/json',
  );
}

/** Past the open routes: the bearer token, or a dashboard session; the page gets a login help page. */
function refuseCaller(req: FastifyRequest, reply: FastifyReply, guard: Guard): Refusal {
  const { opts, port } = guard;
  const path = req.url.split('?')[0]!;
  if (!opts.token || isOpenPath(path) || tokenMatches(opts.token, req.headers.authorization)) return undefined;
  const session = opts.sessions && readCookie(req.headers.cookie, sessionCookieName(port()));
  if (session && opts.sessions?.valid(session)) return refuseSessionMisuse(req, reply, path);
  if (!path.startsWith('/v1/')) {
    return reply.status(401).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(LOGIN_HELP);
  }
  return refuse(
    reply,
    401,
    'UNAUTHORIZED',
    'missing or wrong API token',
    "send Authorization: Bearer <token>; the CLI reads it from the data dir's feederd.json (or NOMMER_TOKEN)",
  );
}

/**
 * A valid dashboard session stands for the token, except to mint logins, and a change it signs
 * needs an Origin and a JSON body (a cross-site form or a replayed cookie has neither).
 */
function refuseSessionMisuse(req: FastifyRequest, reply: FastifyReply, path: string): Refusal {
  // A session must not outlive itself by minting new logins: that takes the token.
  if (path === '/v1/dashboard/login-codes')
    return refuse(
      reply,
      403,
      'UNAUTHORIZED',
      'login codes are made with the API token, not with a dashboard session',
      'run `nommer dashboard` (it uses the token) for a new login link',
    );
  const changes = req.method !== 'GET' && req.method !== 'HEAD';
  const json = JSON_TYPE.test(req.headers['content-type'] ?? '');
  if (!changes || (req.headers.origin !== undefined && json)) return undefined;
  return refuse(
    reply,
    403,
    'CSRF_REFUSED',
    'a request signed in by the dashboard cookie that changes something needs an Origin and a JSON body',
    'send it from the dashboard page (fetch with Content-Type: application/json), or use the API token',
  );
}
