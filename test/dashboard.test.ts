// The dashboard in a real Chromium (playwright-core, Debian's chromium) against a real feederd
// (SQLite, one local worker, ffmpeg on tiny lavfi clips): jobs submitted from the CLI appear and
// reach "succeeded" live; a job submitted through the form runs; cancel and retry from the page;
// without the login cookie the page and the API refuse. Screenshots of the list and of a job's
// page go to the test output dir (NOMMER_TEST_OUTPUT, default under the temp dir); with
// NOMMER_DASHBOARD_SCREENSHOT=docs/dashboard.png the list's is also written there (README's).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { nommer } from './helpers/cli.js';
import { type DashboardPage, launchBrowser, openDashboard, testOutputDir } from './helpers/browser.js';
import type { CreateJobBody, PublicJob } from '../src/api/contract.js';

const dir = tempDir('nommer-dashboard-');
const shots = testOutputDir('dashboard');
let f: RunningFeederd;
let browser: Browser;
let clip: string;

before(async () => {
  clip = makeClip(join(dir.path, 'talk.mp4'), { seconds: 1, width: 160, height: 120 });
  [f, browser] = await Promise.all([startFeederd(dir.path, { workers: 1 }), launchBrowser()]);
});
after(async () => {
  await browser?.close();
  await f?.stop();
  dir.cleanup();
});

// The logged-in tests take turns in one page (a new page starts a renderer process, about 2 CPU-s
// here): the first logs in through a link, as a user does, and each loads the dashboard afresh,
// at its own screen size, with an empty error list.
let shared: DashboardPage | undefined;
async function dashboard(viewport = { width: 1100, height: 800 }): Promise<DashboardPage> {
  if (!shared) {
    shared = await openDashboard(browser, f.client, { viewport });
    return shared;
  }
  const { page, errors } = shared;
  errors.length = 0;
  await page.setViewportSize(viewport);
  await page.goto(`${f.client.endpoint.url}/`);
  await page.locator('#live.on').waitFor();
  return shared;
}

const create = async (body: CreateJobBody) => (await f.client.createJob(body)).job;
const row = (id: string, state?: string) => `li.job[data-job-id="${id}"]${state ? `[data-state="${state}"]` : ''}`;

test('without the login cookie the page and the API refuse; a login link works once', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const res = await page.goto(`${f.client.endpoint.url}/`);
    assert.equal(res?.status(), 401);
    assert.match(await page.locator('h1').innerText(), /Not logged in/);
    assert.match(await page.locator('body').innerText(), /nommer dashboard/);
    assert.equal(await page.locator('li.job').count(), 0);
    // The API, from the browser, with no cookie: every data route and every action refuses.
    const api = context.request;
    for (const path of ['/v1/jobs', '/v1/summary', '/v1/events', '/v1/presets'])
      assert.equal((await api.get(f.client.endpoint.url + path)).status(), 401, path);
    const post = await api.post(`${f.client.endpoint.url}/v1/jobs`, {
      data: { input: clip },
      headers: { origin: f.client.endpoint.url },
    });
    assert.equal(post.status(), 401);
    assert.equal((await post.json()).error.code, 'UNAUTHORIZED');
    // A forged cookie is no session.
    const port = new URL(f.client.endpoint.url).port;
    await context.addCookies([{ name: `nommer_session_${port}`, value: 'forged', url: f.client.endpoint.url }]);
    assert.equal((await api.get(`${f.client.endpoint.url}/v1/jobs`)).status(), 401);

    // A link logs in once; the same link again is refused.
    const link = (await f.client.loginCode()).path;
    assert.equal((await page.goto(f.client.endpoint.url + link))?.status(), 200);
    await page.waitForURL(`${f.client.endpoint.url}/`);
    assert.equal((await api.get(`${f.client.endpoint.url}/v1/jobs`)).status(), 200);
    const cookie = (await context.cookies()).find((c) => c.name === `nommer_session_${port}`)!;
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie), '', 'the page script never sees the session');
    // The same link again is refused; the page then goes back to the list. (One page for both: a
    // new page starts a renderer process, about 2 CPU-s here.)
    assert.equal((await page.goto(f.client.endpoint.url + link))?.status(), 401);
    assert.match(await page.locator('h1').innerText(), /spent or expired/);
    await page.goto(`${f.client.endpoint.url}/`);
    // With the cookie, a change still needs the page's Origin and a JSON body (CSRF).
    const noOrigin = await api.post(`${f.client.endpoint.url}/v1/jobs`, { data: { input: clip } });
    assert.equal(noOrigin.status(), 403);
    assert.equal((await noOrigin.json()).error.code, 'CSRF_REFUSED');
    const form = await api.post(`${f.client.endpoint.url}/v1/jobs`, {
      form: { input: clip },
      headers: { origin: f.client.endpoint.url },
    });
    assert.equal(form.status(), 415);
    const elsewhere = await api.post(`${f.client.endpoint.url}/v1/jobs`, {
      data: { input: clip },
      headers: { origin: 'http://evil.example' },
    });
    assert.equal(elsewhere.status(), 403);
    assert.equal((await f.client.listJobs()).jobs.length, 0, 'nothing was made');
    // A session cannot mint new logins for itself: that takes the token.
    const mint = await api.post(`${f.client.endpoint.url}/v1/dashboard/login-codes`, {
      data: {},
      headers: { origin: f.client.endpoint.url },
    });
    assert.equal(mint.status(), 403);
    // Log out: the page says so, and the session is over on feederd, not only in this browser.
    await page.locator('#live.on').waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.locator('h1', { hasText: 'Not logged in' }).waitFor();
    await context.addCookies([{ name: cookie.name, value: cookie.value, url: f.client.endpoint.url }]);
    assert.equal((await api.get(`${f.client.endpoint.url}/v1/jobs`)).status(), 401);
  } finally {
    await context.close();
  }
});

test('jobs submitted from the CLI appear on the open page and reach "succeeded" live, with no reload', async () => {
  const d = await dashboard();
  const { page } = d;
  await page.evaluate(() => {
    (window as unknown as { notReloaded: boolean }).notReloaded = true;
  });
  const clips = [clip, makeClip(join(dir.path, 'intro.mp4'), { seconds: 1, width: 160, height: 120 })];
  const r = await nommer(['submit', ...clips, '--preset', 'webm-vp8', '--detach', '--json'], {
    env: f.env,
    cwd: dir.path,
  });
  assert.equal(r.code, 0, r.stderr);
  const ids = (JSON.parse(r.stdout) as { jobs: PublicJob[] }).jobs.map((j) => j.id);
  assert.equal(ids.length, 2);
  for (const id of ids) await page.locator(row(id, 'succeeded')).waitFor({ timeout: 60_000 });
  assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true);
  // Newest first, each with its input name, preset and the output's size.
  const names = await page.locator('li.job .name').allInnerTexts();
  assert.deepEqual(names.slice(0, 2), ['intro.mp4', 'talk.mp4']);
  const first = page.locator(row(ids[1]!));
  assert.match(await first.innerText(), /webm-vp8/);
  assert.match(await first.locator('.outputs .size').innerText(), /\d+(\.\d)? KiB/);
  // The filter shows only that state.
  await page.locator('a[data-filter="failed"]').click();
  await page.locator('.empty').waitFor();
  assert.equal(await page.locator('li.job').count(), 0);
  await page.locator('a[data-filter="succeeded"]').click();
  await page.locator(row(ids[0]!)).waitFor();
  await page.locator('.fleet .workers').waitFor();
  await page.screenshot({ path: join(shots, 'list.png'), fullPage: true });
  assert.deepEqual(d.errors, []);
});

test('a job submitted through the form runs and succeeds; its page shows tasks, events and outputs', async () => {
  const d = await dashboard();
  const { page } = d;
  await page.locator('nav a[href="#/new"]').click();
  await page.getByLabel('Input', { exact: true }).fill(clip);
  // The picker lists the presets with their own descriptions, once the API has answered (until
  // then its one option reads "loading…").
  await page
    .locator('#f-preset option')
    .filter({ hasText: /^opus — \S/ })
    .waitFor({ state: 'attached' });
  const options = await page.locator('#f-preset option').allInnerTexts();
  assert.ok(
    options.some((o) => /^opus — \S/.test(o)),
    options.join('\n'),
  );
  await page.getByLabel('Preset').selectOption('opus');
  assert.notEqual(await page.locator('#preset-description').innerText(), '');
  const out = join(dir.path, 'form-out.opus');
  await page.getByLabel('Output', { exact: false }).fill(out);
  await page.getByLabel('--set').fill('audio.bitrate=32k');
  await page.getByRole('button', { name: 'Submit' }).click();
  // The page goes to the job once the API has answered, or shows why it refused: whichever
  // comes first ends the wait (a refusal at once, with its message).
  await page.waitForFunction(
    () => location.hash.startsWith('#/jobs/j_') || document.querySelector('form#submit-form [role="alert"]'),
    null,
    { timeout: 120_000 },
  );
  const refused = page.locator('form#submit-form [role="alert"]');
  assert.equal(await refused.count(), 0, `the form was refused: ${await refused.allInnerTexts()}`);
  assert.match(page.url(), /#\/jobs\/j_/);
  const detail = page.locator('article.detail[data-state="succeeded"]');
  await detail.waitFor({ timeout: 60_000 });
  assert.ok(existsSync(out), 'the output is where the form said');
  assert.equal(probe(out).streams[0]!.codec_name, 'opus');
  const id = decodeURIComponent(page.url().split('#/jobs/')[1]!);
  const job = (await f.client.getJob(id)).job;
  assert.equal(job.state, 'succeeded');
  assert.equal(job.outputs[0]!.uri, out);
  // Tasks and the event history, drawn as they came.
  await page.locator('table.tasks tr[data-task-state="succeeded"]').first().waitFor();
  await page.locator('.events li', { hasText: 'succeeded' }).first().waitFor();
  assert.match(await detail.locator('.outputs').innerText(), /form-out\.opus/);
  await page.screenshot({ path: join(shots, 'job.png'), fullPage: true });

  assert.deepEqual(d.errors, []);
  // A bad input through the form: the API's message and its hint, on the form.
  await page.locator('nav a[href="#/new"]').click();
  await page.getByLabel('Input', { exact: true }).fill('relative/path.mov');
  await page.getByRole('button', { name: 'Submit' }).click();
  assert.match(await page.locator('form .error-box').innerText(), /absolute path or a URI/);
});

test('the presets arriving while the Input is typed into keep the typing and its focus', async () => {
  const d = await dashboard();
  try {
    const { page } = d;
    // The presets' answer is held until the user has started typing (as on a slow feederd).
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    await page.route('**/v1/presets', async (route) => {
      await held;
      await route.continue();
    });
    await page.locator('nav a[href="#/new"]').click();
    const input = page.getByLabel('Input', { exact: true });
    await input.click();
    await page.keyboard.type('/media/');
    release();
    await page
      .locator('#f-preset option')
      .filter({ hasText: /^opus — \S/ })
      .waitFor({ state: 'attached' });
    await page.keyboard.type('talk.mp4');
    assert.equal(await input.inputValue(), '/media/talk.mp4');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-input');
    assert.notEqual(await page.locator('#preset-description').innerText(), '');
    assert.deepEqual(d.errors, []);
  } finally {
    await d.page.unroute('**/v1/presets');
  }
});

/**
 * An http input served by the test, held until released: a job on it is running (downloading)
 * for as long as the test wants, by construction. The first request is held; later ones get the clip.
 */
function gatedInput(file: string): { server: Server; held: Promise<IncomingMessage>; drop(): void; url(): string } {
  let requests = 0;
  let resolveHeld!: (r: IncomingMessage) => void;
  const held = new Promise<IncomingMessage>((r) => {
    resolveHeld = r;
  });
  let heldRes: ServerResponse | undefined;
  const server = createServer((req, res) => {
    if (++requests === 1) {
      heldRes = res;
      resolveHeld(req);
      return;
    }
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': statSync(file).size });
    res.end(readFileSync(file));
  });
  server.listen(0, '127.0.0.1');
  return {
    server,
    held,
    drop: () => heldRes?.socket?.destroy(),
    url: () => {
      const a = server.address();
      return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/slow.mp4`;
    },
  };
}

test('cancel and retry from the page: a job caught running is canceled, then retried to success', async () => {
  const gate = gatedInput(clip);
  await new Promise((r) => gate.server.once('listening', r));
  const d = await dashboard();
  try {
    const { page } = d;
    const out = join(dir.path, 'gated.webm');
    const job = await create({ input: gate.url(), outputs: [{ preset: 'webm-vp8', uri: out }] });
    // Running by construction: the worker is fetching the input, which the test holds.
    await gate.held;
    await waitForJob(f.client, job.id, (j) => j.state === 'running');
    await page.locator(row(job.id, 'running')).waitFor();
    await page.locator(`${row(job.id)} button[data-act="cancel"]`).click();
    await page.locator(row(job.id, 'canceled')).waitFor();
    assert.equal((await waitForJob(f.client, job.id, (j) => j.state === 'canceled')).state, 'canceled');
    // Its worker gives the held download up; the job's page offers Retry.
    gate.drop();
    await page.locator(`${row(job.id)} a.name`).click();
    const retry = page.locator('article.detail button[data-act="retry"]');
    await retry.click();
    await page.locator('article.detail[data-state="succeeded"]').waitFor({ timeout: 60_000 });
    const done = await waitForJob(f.client, job.id, (j) => j.state === 'succeeded');
    assert.equal(done.attempt, 2, 'the retry is a second attempt');
    assert.ok(existsSync(out));
    const types = await page.locator('.events .etype').allInnerTexts();
    assert.ok(types.includes('canceled') && types.includes('retried'), types.join(','));
    assert.deepEqual(d.errors, []);
  } finally {
    gate.server.closeAllConnections();
    gate.server.close();
  }
});

test('on a phone-sized screen the list fits its width; the page script is small', async () => {
  const d = await dashboard({ width: 375, height: 740 });
  const { page } = d;
  await page.locator('li.job').first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await page.screenshot({ path: join(shots, 'phone.png'), fullPage: false });
  let gz = 0;
  for (const name of ['app.js', 'format.js', 'style.css']) {
    const r = await d.context.request.get(`${f.client.endpoint.url}/assets/${name}`);
    assert.equal(r.status(), 200);
    gz += gzipSync(await r.body()).length;
  }
  assert.ok(gz < 100 * 1024, `page script and style: ${gz} bytes gzipped`);
  process.stdout.write(`# dashboard assets: ${gz} bytes gzipped\n`);
});

test('the list at a glance: a failed job with its error, one running, one queued behind it', async () => {
  const failed = await create({ input: join(dir.path, 'missing.mov'), outputs: [{ preset: 'webm' }] });
  await waitForJob(f.client, failed.id, (j) => j.state === 'failed');
  // The one worker is held on a running download, so the next job waits: queued by construction.
  const gate = gatedInput(clip);
  await new Promise((r) => gate.server.once('listening', r));
  const running = await create({
    input: gate.url(),
    outputs: [{ preset: 'webm-vp8', uri: join(dir.path, 'held.webm') }],
  });
  await gate.held;
  const queued = await create({ input: clip, outputs: [{ preset: 'webm', uri: join(dir.path, 'next.webm') }] });
  const d = await dashboard({ width: 1000, height: 760 });
  try {
    const { page } = d;
    await page.locator(row(running.id, 'running')).waitFor();
    await page.locator(row(queued.id, 'queued')).waitFor();
    const bad = page.locator(row(failed.id, 'failed'));
    assert.match(await bad.locator('.error-line').innerText(), /^INPUT_NOT_FOUND: /);
    assert.equal(await bad.locator('button[data-act="retry"]').count(), 1);
    assert.equal(await page.locator(`${row(running.id)} button[data-act="cancel"]`).count(), 1);
    // The fleet line comes with the summary, which may answer after the list.
    await page.locator('.fleet', { hasText: /1 worker\s*\(1 busy\)/ }).waitFor();
    await page.screenshot({ path: join(shots, 'overview.png') });
    // README's screenshot, when asked for (NOMMER_DASHBOARD_SCREENSHOT=docs/dashboard.png).
    const target = process.env.NOMMER_DASHBOARD_SCREENSHOT;
    if (target) copyFileSync(join(shots, 'overview.png'), target);
    // The failed job's page: its error and the hint.
    await bad.locator('a.name').click();
    assert.match(await page.locator('.error-box').innerText(), /INPUT_NOT_FOUND/);
    await page.screenshot({ path: join(shots, 'failed-job.png'), fullPage: true });
    assert.deepEqual(d.errors, []);
  } finally {
    await f.client.cancelJob(running.id).catch(() => undefined);
    gate.drop();
    gate.server.closeAllConnections();
    gate.server.close();
  }
  await waitForJob(f.client, queued.id, (j) => j.state === 'succeeded');
});
