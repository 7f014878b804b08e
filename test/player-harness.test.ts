// The browser player harness (test/helpers/player.ts) proven on adaptive packages made here by
// ffmpeg's dash muxer from tiny lavfi clips (CMAF segments, manifest.mpd and master.m3u8 over the
// same files): shaka-player in Debian's Chromium plays the DASH manifest, lists the two
// renditions and switches between them (the positive control; nommer's own packages, over DASH
// and HLS, with and without audio and with subtitles, are played in abr.test.ts); and the
// harness fails, fast, on a missing segment
// and on a corrupted init segment. The static server's ranges, types and path checks are tested
// without a browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { FFMPEG, tempDir } from './helpers/media.js';
import type { Browser, Page } from 'playwright-core';
import {
  launchPlayerBrowser,
  openPlayerPage,
  playInBrowser,
  servePackage,
  type PlayReport,
  type ServedPackage,
} from './helpers/player.js';

const tmp = tempDir('nommer-player-');
const served: ServedPackage[] = [];
let av: string; // two VP9 renditions (320x180, 160x90) + Opus
// One Chromium for the file's plays (a launch costs seconds of CPU), and one page the plays take
// turns in (a new page starts a renderer process, about 2 CPU-s); each play loads the player afresh.
let browser: Browser;
let page: Page;

/**
 * An 8 s package of two VP9 renditions (+ Opus unless audio is false), 2 s segments, keyframe every
 * segment. 320x180 and 160x90 at 12 fps: two heights to switch between are what the harness needs,
 * and a quarter of the pixels at half the rate costs half the encode's CPU and less of Chromium's
 * decoding (issue 24); abr.test.ts plays packages as small.
 */
function makePackage(dir: string, o: { audio: boolean }): string {
  mkdirSync(dir, { recursive: true }); // the dash muxer does not make it
  const args = ['-hide_banner', '-loglevel', 'error', '-y'];
  args.push('-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=12:duration=8');
  if (o.audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:duration=8');
  args.push('-map', '0:v', '-map', '0:v');
  if (o.audio) args.push('-map', '1:a');
  args.push('-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1');
  args.push('-s:v:0', '320x180', '-s:v:1', '160x90', '-b:v:0', '300k', '-b:v:1', '100k');
  args.push('-g', '24', '-keyint_min', '24');
  if (o.audio) args.push('-c:a', 'libopus', '-b:a', '64k');
  args.push('-f', 'dash', '-dash_segment_type', 'mp4', '-hls_playlist', '1', '-seg_duration', '2');
  args.push('-adaptation_sets', o.audio ? 'id=0,streams=v id=1,streams=a' : 'id=0,streams=v');
  args.push(join(dir, 'manifest.mpd'));
  const r = spawnSync(FFMPEG, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg dash failed: ${r.stderr}`);
  return dir;
}

/** A copy of `from` under a new name, changed by `change`. */
function variantOf(from: string, name: string, change: (dir: string) => void): string {
  const dir = join(tmp.path, name);
  cpSync(from, dir, { recursive: true });
  change(dir);
  return dir;
}

async function play(dir: string, manifest: string, o: { timeoutMs?: number } = {}) {
  const s = await servePackage(dir);
  served.push(s);
  const r = await playInBrowser({ url: s.url + manifest, timeoutMs: o.timeoutMs, page });
  return { r, ms: r.elapsedMs, requests: s.requests };
}

function assertPlayedAndSwitched(r: PlayReport, what: string) {
  assert.deepEqual(r.errors, [], what);
  assert.equal(r.loaded, true, what);
  assert.ok(r.playedSeconds >= 4, `${what}: played ${r.playedSeconds} s (3 before the switch, 1 after)`);
  assert.deepEqual(r.variants.map((v) => [v.width, v.height]).sort(), [
    [160, 90],
    [320, 180],
  ]);
  assert.ok(r.switchedTo, what);
  assert.deepEqual(r.activeAfterSwitch, r.switchedTo, what);
  assert.equal(r.displayedAfterSwitch?.height, r.switchedTo.height, `${what}: the new rendition is on screen`);
}

before(async () => {
  av = makePackage(join(tmp.path, 'av'), { audio: true });
  browser = await launchPlayerBrowser();
  page = await openPlayerPage(browser);
});
after(async () => {
  await browser?.close();
  await Promise.all(served.map((s) => s.close()));
  tmp.cleanup();
});

test('the DASH manifest plays, lists both renditions and switches, with no error', async () => {
  const { r, ms, requests } = await play(av, 'manifest.mpd');
  assertPlayedAndSwitched(r, 'dash');
  for (const v of r.variants) {
    assert.match(v.videoCodec ?? '', /^vp09\./);
    assert.equal(v.audioCodec, 'opus');
  }
  // The switch really fetched the other rendition's segments.
  const rep = { 180: 0, 90: 1 }[r.switchedTo!.height as 180 | 90]; // -s:v:0 320x180 -s:v:1 160x90
  assert.ok(
    requests.some((q) => q.startsWith(`200 GET /chunk-stream${rep}-`)),
    requests.join('\n'),
  );
  console.log(`dash: ${ms} ms, played ${r.playedSeconds.toFixed(2)} s`);
});

test('a missing segment is reported as an error, at once, not at the timeout', async () => {
  const dir = variantOf(av, 'missing', (d) => {
    for (const rep of [0, 1]) rmSync(join(d, `chunk-stream${rep}-00002.m4s`));
  });
  for (const manifest of ['manifest.mpd', 'master.m3u8']) {
    const { r, ms } = await play(dir, manifest, { timeoutMs: 60_000 });
    assert.ok(r.errors.length > 0, manifest);
    assert.ok(
      r.errors.some((e) => /shaka error 1001\b/.test(e) && e.includes('chunk-stream')),
      `${manifest}: ${r.errors.join('\n')}`,
    );
    assert.ok(!r.errors.some((e) => /timed out|not within/.test(e)), r.errors.join('\n'));
    assert.ok(r.playedSeconds < 3, `${manifest}: played ${r.playedSeconds}`);
    assert.equal(r.switchedTo, null);
    assert.ok(ms < 20_000, `${manifest}: failed after ${ms} ms`);
    console.log(`missing segment ${manifest}: failed in ${ms} ms: ${r.errors[0]}`);
  }
});

test('a corrupted init segment is reported as an error, at once', async () => {
  // The boxes inside moov zeroed (ftyp and the moov header kept): MediaSource refuses it.
  const dir = variantOf(av, 'corrupt', (d) => {
    for (const rep of [0, 1]) {
      const p = join(d, `init-stream${rep}.m4s`);
      const bytes = readFileSync(p);
      assert.equal(bytes.toString('latin1', 28 + 4, 28 + 8), 'moov');
      writeFileSync(p, bytes.fill(0, 28 + 8));
    }
  });
  for (const manifest of ['manifest.mpd', 'master.m3u8']) {
    const { r, ms } = await play(dir, manifest, { timeoutMs: 60_000 });
    assert.ok(
      r.errors.some((e) => /shaka error 3014\b/.test(e)),
      `${manifest}: MEDIA_SOURCE_OPERATION_FAILED: ${r.errors.join('\n')}`,
    );
    assert.ok(!r.errors.some((e) => /timed out|not within/.test(e)), r.errors.join('\n'));
    assert.equal(r.playedSeconds, 0);
    assert.ok(ms < 20_000, `${manifest}: failed after ${ms} ms`);
    console.log(`corrupt init ${manifest}: failed in ${ms} ms: ${r.errors.join(' | ')}`);
  }
});

test('a player that never starts is reported at the timeout, with its state', async () => {
  // Garbage from the first byte: MediaSource reads a 126 MB box size and waits for the rest, and
  // shaka sees no error. Only the bound ends this; the report says where it stood.
  const dir = variantOf(av, 'garbage', (d) => {
    for (const rep of [0, 1]) {
      const p = join(d, `init-stream${rep}.m4s`);
      const bytes = readFileSync(p);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 7) & 0xff;
      writeFileSync(p, bytes);
    }
  });
  const { r, ms } = await play(dir, 'manifest.mpd', { timeoutMs: 6000 });
  assert.equal(r.loaded, true);
  assert.equal(r.playedSeconds, 0);
  assert.ok(
    r.errors.some((e) => /^playing 3 s: not within \d+ ms \(currentTime 0\.00, readyState 0\)$/.test(e)),
    r.errors.join('\n'),
  );
  assert.ok(ms >= 5000 && ms < 10_000, `ended after ${ms} ms`);
});

// ---- the static server, without a browser

function get(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>(
    (ok, fail) => {
      const req = request(url, { headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => ok({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      });
      req.on('error', fail);
      req.end();
    },
  );
}

/** GET with a raw request path (node's URL parsing would remove the dot segments). */
function getRaw(base: string, path: string) {
  const u = new URL(base);
  return new Promise<number>((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path }, (res) => {
      res.resume();
      res.on('end', () => ok(res.statusCode!));
    });
    req.on('error', fail);
    req.end();
  });
}

test('the static server: content types, byte ranges, no way out of the package', async () => {
  const dir = variantOf(av, 'served', (d) => {
    writeFileSync(join(d, 'poster.webp'), 'RIFF');
    writeFileSync(join(d, 'thumbnails.vtt'), 'WEBVTT\n');
    writeFileSync(join(d, 'clip.mp4'), '');
    symlinkSync('/etc/hostname', join(d, 'escape.txt'));
  });
  writeFileSync(join(tmp.path, 'secret.txt'), 'secret');
  const s = await servePackage(dir);
  served.push(s);
  const types: Record<string, RegExp> = {
    'manifest.mpd': /^application\/dash\+xml/,
    'master.m3u8': /^application\/vnd\.apple\.mpegurl/,
    'init-stream0.m4s': /^video\/iso\.segment/,
    'clip.mp4': /^video\/mp4/,
    'thumbnails.vtt': /^text\/vtt/,
    'poster.webp': /^image\/webp/,
    '__player/': /^text\/html/,
    '__player/shaka-player.compiled.js': /^text\/javascript/,
  };
  for (const [path, type] of Object.entries(types)) {
    const res = await get(s.url + path);
    assert.equal(res.status, 200, path);
    assert.match(String(res.headers['content-type']), type, path);
  }
  const whole = readFileSync(join(dir, 'chunk-stream0-00001.m4s'));
  const seg = `${s.url}chunk-stream0-00001.m4s`;
  const full = await get(seg);
  assert.equal(full.headers['accept-ranges'], 'bytes');
  assert.ok(full.body.equals(whole));
  const part = await get(seg, { range: 'bytes=10-19' });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 10-19/${whole.length}`);
  assert.ok(part.body.equals(whole.subarray(10, 20)));
  const open = await get(seg, { range: 'bytes=100-' });
  assert.equal(open.status, 206);
  assert.ok(open.body.equals(whole.subarray(100)));
  const tail = await get(seg, { range: 'bytes=-5' });
  assert.equal(tail.status, 206);
  assert.ok(tail.body.equals(whole.subarray(whole.length - 5)));
  const beyond = await get(seg, { range: `bytes=${whole.length}-` });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers['content-range'], `bytes */${whole.length}`);

  assert.equal((await get(`${s.url}nothing.m4s`)).status, 404);
  for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/escape.txt', '/a%00b'])
    assert.ok([400, 403, 404].includes(await getRaw(s.url, path)), path);
  assert.equal(await getRaw(s.url, '/..%2fsecret.txt'), 403); // decoded after the URL's own dot-segment removal
});
