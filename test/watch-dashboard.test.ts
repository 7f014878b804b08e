// The dashboard's read-only list of watches (#/watches) in a real Chromium against a real feederd:
// each watch with its source, presets and destination, its state (a folder gone missing shows as
// an error with the reason) and the files it took.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { tempDir } from './helpers/media.js';
import { startFeederd, type RunningFeederd } from './helpers/feederd.js';
import { launchBrowser, openDashboard } from './helpers/browser.js';

const dir = tempDir('nommer-watch-dash-');
let f: RunningFeederd | undefined;
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await f?.stop();
  dir.cleanup();
});

test('the dashboard lists the watches, a folder gone missing as an error', async () => {
  const kept = join(dir.path, 'kept');
  const gone = join(dir.path, 'gone');
  mkdirSync(kept);
  mkdirSync(gone);
  [f, browser] = await Promise.all([
    startFeederd(dir.path, { workers: 0, config: { watch: { settleSeconds: 0.3, rescanSeconds: 0.5 } } }),
    launchBrowser(),
  ]);
  const a = (await f.client.addWatch({ source: kept, presets: ['opus'], dest: join(dir.path, 'out') })).watch;
  const b = (
    await f.client.addWatch({
      source: gone,
      presets: ['webm', 'poster'],
      dest: join(dir.path, 'out2'),
      pattern: '*.mov',
    })
  ).watch;
  rmSync(gone, { recursive: true });
  // The page reads what the API says: wait until feederd has seen the folder gone (bounded).
  const deadline = Date.now() + 30_000;
  while ((await f.client.listWatches()).watches.find((w) => w.id === b.id)?.state !== 'error') {
    assert.equal(f.proc.exitCode, null, 'feederd exited');
    assert.ok(Date.now() < deadline, 'feederd never found the folder missing');
    await new Promise((r) => setTimeout(r, 100));
  }
  const d = await openDashboard(browser, f.client);
  await d.page.locator('nav a[href="#/watches"]').click();
  const rowA = d.page.locator(`tr[data-watch-id="${a.id}"][data-state="ok"]`);
  const rowB = d.page.locator(`tr[data-watch-id="${b.id}"][data-state="error"]`);
  await rowA.waitFor();
  await rowB.waitFor();
  assert.match(
    (await rowA.textContent()) ?? '',
    new RegExp(`${kept}[\\s\\S]*opus → ${join(dir.path, 'out')}[\\s\\S]*ok\\s+0`),
  );
  assert.match((await rowB.textContent()) ?? '', /\*\.mov[\s\S]*webm, poster →[\s\S]*error folder missing/);
  assert.deepEqual(d.errors, []);
  await d.context.close();
});
