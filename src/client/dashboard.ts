// The dashboard's login link, and opening it. feederd issues a one-time code to a caller that
// holds the API token (POST /v1/dashboard/login-codes); the link carries that code, never the
// token, and works once within a minute (orchestrator/sessions.ts).
import { spawn } from 'node:child_process';
import type { ApiClient } from './api-client.js';

export interface LoginLink {
  url: string;
  expiresAt: string;
}

export async function dashboardLoginLink(client: ApiClient): Promise<LoginLink> {
  const r = await client.request<{ path: string; expiresAt: string }>('POST', '/v1/dashboard/login-codes', {});
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

/** Open `url` in the user's browser (argv, no shell); resolves false when no opener starts. */
export function openInBrowser(url: string, platform = process.platform): Promise<boolean> {
  const [cmd, args] =
    platform === 'darwin'
      ? ['open', [url]]
      : platform === 'win32'
        ? ['rundll32', ['url.dll,FileProtocolHandler', url]]
        : ['xdg-open', [url]];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
