// Dashboard logins: one-time login codes and the browser sessions they open. `nommer dashboard`
// asks feederd (with the API token) for a code and opens /login?code=… (through a private page, not
// the opener's argv: client/dashboard.ts); feederd trades the code,
// once and within a minute, for a session id in an HttpOnly SameSite=Strict cookie. So the
// long-lived token never appears in a URL, a browser history or a screen share; a code seen there
// is spent or stale. Sessions live in feederd's memory: a restart logs every browser out
// (`nommer dashboard` again), and nothing of them is on disk. Bounded: at most MAX_CODES codes
// waiting and MAX_SESSIONS sessions, the oldest dropped first. Pure of the network; time is a
// parameter so it is tested without a clock.
import { createHash, randomBytes } from 'node:crypto';

export const LOGIN_CODE_TTL_MS = 60_000;
export const SESSION_TTL_MS = 12 * 3600_000;
const MAX_CODES = 64;
const MAX_SESSIONS = 256;

/** Keys of the maps are hashes: a heap dump or a timing probe of Map lookups learns no secret. */
const digest = (s: string): string => createHash('sha256').update(s).digest('base64url');

export class DashboardSessions {
  private readonly codes = new Map<string, number>();
  private readonly sessions = new Map<string, number>();

  constructor(
    private readonly ttl: { codeMs: number; sessionMs: number } = {
      codeMs: LOGIN_CODE_TTL_MS,
      sessionMs: SESSION_TTL_MS,
    },
  ) {}

  /** A new one-time login code (the caller has proven it holds the API token). */
  issueCode(now = Date.now()): { code: string; expiresAt: number } {
    this.sweep(now);
    const code = randomBytes(24).toString('base64url');
    const expiresAt = now + this.ttl.codeMs;
    this.codes.set(digest(code), expiresAt);
    dropOldest(this.codes, MAX_CODES);
    return { code, expiresAt };
  }

  /** Spend a login code: a new session id, or null when the code is unknown, used or stale. */
  redeem(code: string, now = Date.now()): { session: string; expiresAt: number } | null {
    const key = digest(code);
    const until = this.codes.get(key);
    this.codes.delete(key);
    if (until === undefined || until < now) return null;
    const session = randomBytes(32).toString('base64url');
    const expiresAt = now + this.ttl.sessionMs;
    this.sessions.set(digest(session), expiresAt);
    dropOldest(this.sessions, MAX_SESSIONS);
    return { session, expiresAt };
  }

  valid(session: string | undefined, now = Date.now()): boolean {
    if (!session) return false;
    const key = digest(session);
    const until = this.sessions.get(key);
    if (until === undefined) return false;
    if (until < now) {
      this.sessions.delete(key);
      return false;
    }
    return true;
  }

  end(session: string | undefined): void {
    if (session) this.sessions.delete(digest(session));
  }

  private sweep(now: number): void {
    for (const [k, until] of this.codes) if (until < now) this.codes.delete(k);
    for (const [k, until] of this.sessions) if (until < now) this.sessions.delete(k);
  }
}

/** Maps keep insertion order: the first keys are the oldest. */
function dropOldest(m: Map<string, number>, max: number): void {
  for (const k of m.keys()) {
    if (m.size <= max) break;
    m.delete(k);
  }
}

/**
 * The cookie's name. Cookies ignore ports, so two feederds on one host (two data dirs) would
 * overwrite each other's session under one name: the port is part of it.
 */
export function sessionCookieName(port: number): string {
  return `nommer_session_${port}`;
}

/** The value of cookie `name` in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
