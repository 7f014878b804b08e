// A real Chromium (Debian's /usr/bin/chromium, or NOMMER_CHROMIUM) driven by playwright-core,
// which downloads no browser of its own; and a dashboard page logged in the way a user is, through
// the one-time link `nommer dashboard` makes.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { ApiClient } from '../../src/client/api-client.js';
import { dashboardLoginLink } from '../../src/client/dashboard.js';

export const CHROMIUM = process.env.NOMMER_CHROMIUM || '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** Where tests write screenshots: NOMMER_TEST_OUTPUT, or a folder under the temp dir. */
export function testOutputDir(name: string): string {
  const dir = join(process.env.NOMMER_TEST_OUTPUT || join(tmpdir(), 'nommer-test-output'), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface DashboardPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught errors and console errors of the page (a test asserts there are none). */
  errors: string[];
}

/** A new browser context logged in to the dashboard of `client`'s feederd, on `/`. */
export async function openDashboard(
  browser: Browser,
  client: ApiClient,
  opts: { viewport?: { width: number; height: number } } = {},
): Promise<DashboardPage> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1100, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  const link = await dashboardLoginLink(client);
  await page.goto(link.url);
  // The login page moves on to the dashboard by itself; the list is drawn from the stream.
  await page.waitForURL(`${client.endpoint.url}/`);
  await page.locator('#live.on').waitFor();
  return { context, page, errors };
}
