// Issue 23 item 1: `nommer dashboard` never puts the one-time login code where another local user
// can read it. Every local user reads any process's argv (/proc/PID/cmdline), so the browser opener
// gets the path of a page in the data dir (0600, in the 0700 dir), which forwards the browser to
// the link. A stand-in `xdg-open` first on PATH records its argv, its environment and the page it
// was given; the code appears in none but the page, and the page logs a real Chromium in.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir } from './helpers/media.js';
import { pidsMatching, startFeederd } from './helpers/feederd.js';
import { nommer } from './helpers/cli.js';
import { sleep } from './helpers/faults.js';
import { launchBrowser } from './helpers/browser.js';

const dir = tempDir('nommer-trust-dashboard-');
after(() => dir.cleanup());

/** A stand-in browser opener: it writes what it got (argv, environment, the page and its mode). */
function fakeOpener(binDir: string, record: string): void {
  mkdirSync(binDir, { recursive: true });
  const script = join(binDir, 'xdg-open');
  writeFileSync(
    script,
    `#!/bin/sh
{ for a in "$0" "$@"; do printf 'argv %s\\n' "$a"; done
  printf 'mode %s\\n' "$(stat -c %a "$1")"
  printf 'dirmode %s\\n' "$(stat -c %a "$(dirname "$1")")"
  env | sed 's/^/env /'
  printf 'page '; tr '\\n' ' ' < "$1"; echo; } > '${record}.tmp'
mv '${record}.tmp' '${record}'
`,
  );
  chmodSync(script, 0o755);
}

/** Wait for the opener's record; fail at once when no opener runs and none was written. */
async function openerRecord(record: string, binDir: string): Promise<string> {
  for (;;) {
    if (existsSync(record)) return readFileSync(record, 'utf8');
    if (pidsMatching(join(binDir, 'xdg-open')).length === 0 && !existsSync(record))
      throw new Error('the browser opener ended without writing its record');
    await sleep(50);
  }
}

test('nommer dashboard hands the opener a private page, never the login code; the page logs the browser in', async () => {
  const d = dir.path;
  const binDir = join(d, 'bin');
  const record = join(d, 'opener.txt');
  fakeOpener(binDir, record);
  const f = await startFeederd(d, { workers: 0 });
  const browser = await launchBrowser();
  try {
    const env = { ...f.env, PATH: `${binDir}:${process.env.PATH}`, DISPLAY: ':77', CI: '' };
    const r = await nommer(['dashboard', '--json'], { env, cwd: d });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { opened: boolean; page?: string; url?: string };
    assert.equal(out.opened, true, r.stdout);
    const rec = await openerRecord(record, binDir);
    assert.doesNotMatch(rec.replace(/^page .*$/m, ''), /code=/, `no login code in the opener's argv or env:\n${rec}`);
    assert.equal(out.url, undefined, 'an opened link is not printed');
    const page = rec.match(/^page (.*)$/m)?.[1] ?? '';
    const link = page.match(/url=(http:\/\/[^"]+)"/)?.[1] ?? '';
    const code = link.match(/\/login\?code=([\w-]{20,})$/)?.[1];
    assert.ok(code, `the page forwards to a login link: ${page}`);
    assert.ok(!rec.replace(/^page .*$/m, '').includes(code), `no code in the opener's argv or env:\n${rec}`);
    const args = rec.match(/^argv (.*)$/gm) ?? [];
    assert.equal(args[1], `argv ${out.page}`, 'the opener gets the page path');
    assert.ok(out.page?.startsWith(`${f.home}/dashboard-login-`), 'the page is in the data dir');
    assert.match(rec, /^mode 600$/m, 'the page is readable by its owner only');
    assert.match(rec, /^dirmode 700$/m, 'in the private data dir');
    // The page logs a real browser in (file:// forwards to the link), and the code is then spent.
    const ctx = await browser.newContext();
    const tab = await ctx.newPage();
    await tab.goto(pathToFileURL(out.page!).href);
    await tab.waitForURL(`${f.client.endpoint.url}/`);
    const cookies = await ctx.cookies(f.client.endpoint.url);
    assert.ok(
      cookies.some((c) => c.name.startsWith('nommer_session_') && c.httpOnly),
      JSON.stringify(cookies),
    );
    assert.equal((await fetch(link)).status, 401, 'the code was the one the browser spent');
    await ctx.close();
    // The next run removes pages whose code has expired (here: aged past the code's minute).
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(out.page!, old, old);
    const again = await nommer(['dashboard', '--json'], { env, cwd: d });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(existsSync(out.page!), false, 'the expired page is gone');
    const pages = readdirSync(f.home).filter((n) => n.startsWith('dashboard-login-'));
    assert.deepEqual(pages, [(JSON.parse(again.stdout) as { page: string }).page.slice(f.home.length + 1)]);
    assert.equal(statSync(join(f.home, pages[0]!)).mode & 0o777, 0o600);
  } finally {
    await browser.close();
    await f.stop();
  }
});

test('nommer dashboard --print still prints the link (the user asked for it) and writes no page', async () => {
  const d = join(dir.path, 'print');
  mkdirSync(d, { recursive: true });
  const f = await startFeederd(d, { workers: 0 });
  try {
    const r = await nommer(['dashboard', '--print'], { env: { ...f.env, DISPLAY: ':77', CI: '' }, cwd: d });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), new RegExp(`^${f.client.endpoint.url}/login\\?code=[\\w-]{20,}$`));
    assert.deepEqual(
      readdirSync(f.home).filter((n) => n.startsWith('dashboard-login-')),
      [],
    );
  } finally {
    await f.stop();
  }
});
