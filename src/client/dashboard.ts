// The dashboard's login link, and opening it. feederd issues a one-time code to a caller that
// holds the API token (POST /v1/dashboard/login-codes); the link carries that code, never the
// token, and works once within a minute (orchestrator/sessions.ts). The link is never handed to
// the browser opener: any local user reads another's argv (/proc/PID/cmdline) and environment, and
// would redeem the code first. The opener gets the path of a page only this user can read, which
// forwards the browser to the link (what Jupyter does for its token).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOGIN_CODE_TTL_MS } from '../orchestrator/sessions.js';
import { ensureDataDir } from '../paths.js';
import type { ApiClient } from './api-client.js';

export interface LoginLink {
  url: string;
  expiresAt: string;
}

export async function dashboardLoginLink(client: ApiClient): Promise<LoginLink> {
  const r = await client.loginCode();
  return { url: client.endpoint.url + r.path, expiresAt: r.expiresAt };
}

/**
 * Why no browser can be opened here, or null when one can: CI has none, and on Linux and the BSDs
 * there is none without a display (an ssh session, a container).
 */
export function noBrowserReason(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string | null {
  if (env.CI && env.CI !== 'false' && env.CI !== '0') return 'CI is set';
  if (platform !== 'darwin' && platform !== 'win32' && !env.DISPLAY && !env.WAYLAND_DISPLAY) return 'no display';
  return null;
}

const LOGIN_PAGE = /^dashboard-login-[0-9a-f]{16}\.html$/;

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Write the page that forwards a browser to `link` into the data dir (0700), readable by this user
 * only (0600, created so: never readable by others, not even for a moment). Pages of earlier logins
 * whose code has expired are removed first; a page is useless once its code is spent or stale.
 */
export function writeLoginPage(home: string, link: LoginLink, now = Date.now()): string {
  ensureDataDir(home);
  removeStaleLoginPages(home, now);
  const path = join(home, `dashboard-login-${randomBytes(8).toString('hex')}.html`);
  const href = escapeHtml(link.url);
  writeFileSync(
    path,
    `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=${href}">` +
      `<title>nommer: logging in</title><p><a href="${href}">Open the nommer dashboard</a></p>\n`,
    { mode: 0o600, flag: 'wx' },
  );
  return path;
}

/** Remove the login pages of the data dir older than a login code lives (by their mtime). */
export function removeStaleLoginPages(home: string, now = Date.now()): void {
  let names: string[];
  try {
    names = readdirSync(home).filter((n) => LOGIN_PAGE.test(n));
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(home, n);
    try {
      if (now - statSync(p).mtimeMs > LOGIN_CODE_TTL_MS) rmSync(p, { force: true });
    } catch {
      /* removed meanwhile */
    }
  }
}

/**
 * Open `target` (a URL or a file's path) in the user's browser (argv, no shell); resolves false
 * when no opener starts. Never pass a secret: the opener's argv is readable by every local user.
 */
export function openInBrowser(target: string, platform = process.platform): Promise<boolean> {
  const [cmd, args] =
    platform === 'darwin'
      ? ['open', [target]]
      : platform === 'win32'
        ? ['rundll32', ['url.dll,FileProtocolHandler', target]]
        : ['xdg-open', [target]];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
