// Plays an adaptive streaming package (DASH manifest.mpd or HLS master.m3u8) in a real browser
// player: shaka-player (Apache-2.0, npm; one API for both DASH and HLS) in Debian's Chromium driven
// by playwright-core, from a static server on loopback. The player is strict on purpose: no
// silent fallbacks (a failing variant is not disabled and swapped for another, no MediaSource
// recovery, one network attempt), so a broken package shows up as an error, at once.
//
// servePackage(dir) serves the package at `/` and the player page at `/__player/`; playInBrowser
// opens that page on the manifest URL's origin, loads the manifest, waits (on the video's own
// events) until `seconds` of media have played, turns ABR off, switches to a variant of another
// height with selectVariantTrack(track, true), and waits until that variant is the active one, is
// the one on screen (video.videoHeight) and has played one more second.
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { extname, isAbsolute, relative, resolve, sep } from 'node:path';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { CHROMIUM } from './browser.js';

const SHAKA_JS = createRequire(import.meta.url).resolve('shaka-player/dist/shaka-player.compiled.js');

const CONTENT_TYPES: Record<string, string> = {
  '.mpd': 'application/dash+xml',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.m4a': 'audio/mp4',
  '.webm': 'video/webm',
  '.vtt': 'text/vtt; charset=utf-8',
  '.webp': 'image/webp',
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
  '.js': 'text/javascript; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
};

export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

const PLAYER_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>nommer player test</title><link rel="icon" href="data:,">
<script src="/__player/shaka-player.compiled.js"></script></head>
<body><video id="v" muted playsinline width="640" height="360"></video></body></html>
`;

export interface ServedPackage {
  /** `http://127.0.0.1:PORT/`: the package's root; the manifests are `url + 'manifest.mpd'` etc. */
  url: string;
  /** Every request served, in order: `STATUS METHOD PATH` (e.g. `206 GET /chunk-stream1-00003.m4s`). */
  requests: string[];
  close(): Promise<void>;
}

/** A static HTTP server on 127.0.0.1 (random port) over `dir`, plus the player page and shaka's JS. */
export async function servePackage(dir: string): Promise<ServedPackage> {
  const root = realpathSync(dir);
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const status = handle(root, req, res);
    requests.push(`${status} ${req.method} ${req.url}`);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

function handle(root: string, req: IncomingMessage, res: ServerResponse): number {
  const end = (status: number, headers: Record<string, string> = {}, body = '') => {
    res.writeHead(status, { 'cache-control': 'no-store', ...headers });
    res.end(body);
    return status;
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return end(405, { allow: 'GET, HEAD' });
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    return end(400);
  }
  if (path.includes('\0')) return end(400);
  if (path === '/__player/' || path === '/__player/index.html')
    return end(200, { 'content-type': CONTENT_TYPES['.html'] }, req.method === 'HEAD' ? '' : PLAYER_HTML);
  let file: string;
  if (path === '/__player/shaka-player.compiled.js') file = SHAKA_JS;
  else {
    const abs = resolve(root, `.${path}`);
    if (!inside(root, abs)) return end(403);
    try {
      file = realpathSync(abs); // a symlink may not lead out of the package either
    } catch {
      return end(404);
    }
    if (!inside(root, file)) return end(403);
  }
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) return end(404);
    size = st.size;
  } catch {
    return end(404);
  }
  const headers: Record<string, string> = {
    'content-type': contentTypeOf(file),
    'accept-ranges': 'bytes',
    'cache-control': 'no-store',
  };
  let start = 0;
  let last = size - 1;
  let status = 200;
  const range = req.headers.range;
  if (range !== undefined) {
    const r = parseRange(range, size);
    if (!r) {
      res.writeHead(416, { ...headers, 'content-range': `bytes */${size}` });
      res.end();
      return 416;
    }
    [start, last] = r;
    status = 206;
    headers['content-range'] = `bytes ${start}-${last}/${size}`;
  }
  headers['content-length'] = String(last - start + 1);
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || size === 0) res.end();
  else
    createReadStream(file, { start, end: last })
      .on('error', () => res.destroy())
      .pipe(res);
  return status;
}

function inside(root: string, abs: string): boolean {
  const rel = relative(root, abs);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** One `bytes=` range (the only kind a player asks for) as [first, last], or null if unsatisfiable. */
export function parseRange(header: string, size: number): [number, number] | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let first: number;
  let last: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return null;
    first = Math.max(0, size - n);
    last = size - 1;
  } else {
    first = Number(m[1]);
    last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (first >= size || first > last) return null;
  return [first, last];
}

// ---------------------------------------------------------------------------------------------
// The browser side.

export interface Variant {
  id: number;
  width: number | null;
  height: number | null;
  bandwidth: number;
  videoCodec: string | null;
  audioCodec: string | null;
}

export interface TextTrackInfo {
  language: string;
  label: string | null;
  kind: string | null;
}

export interface PlayReport {
  /** player.load() resolved. */
  loaded: boolean;
  /** Media seconds played (currentTime advanced) over the whole run. */
  playedSeconds: number;
  variants: Variant[];
  /** The variant asked for with selectVariantTrack(track, true), or null if no switch was made. */
  switchedTo: { id: number; height: number | null } | null;
  /** shaka's active variant when the switch wait ended (equal to switchedTo when it worked). */
  activeAfterSwitch: { id: number; height: number | null } | null;
  /** The video element's decoded size when the switch wait ended (what is on screen). */
  displayedAfterSwitch: { width: number; height: number } | null;
  textTracks: TextTrackInfo[];
  /** shaka error events, video element errors, page errors, console errors, failed waits. */
  errors: string[];
  /** Wall time of the run in the page (launching Chromium not counted). */
  elapsedMs: number;
}

export interface PlayOptions {
  /** A browser to play in (from launchPlayerBrowser); each play gets its own context in it. Default: one of its own. */
  browser?: Browser;
  /**
   * A page to play in (from openPlayerPage), shared by a file's plays one after another: each play
   * loads the player page afresh in it. A new page starts a renderer process, about 2 CPU-s here,
   * which is most of what a short play costs. Wins over `browser`.
   */
  page?: Page;
  /** Manifest URL on a servePackage server (the player page is opened on the same origin). */
  url: string;
  /** Media seconds to play before switching (default 3). */
  seconds?: number;
  /** Switch to a variant of another height and play 1 s more (default true). */
  switchRendition?: boolean;
  /** Select (show) the first text track, so that shaka fetches and parses it too (default true). */
  showText?: boolean;
  /** Bound on the run in the page, from opening it to the end (default 60000); launching Chromium has the same bound of its own. */
  timeoutMs?: number;
}

// What the page functions see of shaka (the compiled build has no types we can import here).
interface ShakaTrack {
  id: number;
  active: boolean;
  width: number | null;
  height: number | null;
  bandwidth: number;
  videoCodec: string | null;
  audioCodec: string | null;
  language: string;
  label: string | null;
  kind: string | null;
}
interface ShakaPlayer {
  attach(video: HTMLMediaElement): Promise<void>;
  configure(config: object): boolean;
  load(url: string): Promise<void>;
  getVariantTracks(): ShakaTrack[];
  getTextTracks(): ShakaTrack[];
  selectVariantTrack(track: ShakaTrack, clearBuffer: boolean): void;
  selectTextTrack(track: ShakaTrack): void;
  addEventListener(type: string, fn: (e: Event & { detail?: unknown }) => void): void;
  destroy(): Promise<void>;
}
interface PageState {
  player: ShakaPlayer;
  video: HTMLVideoElement;
  errors: string[];
  /** Resolves when `cond` holds, checked on the video's events; stops at once on an error or the end. */
  until(what: string, cond: () => boolean, ms: number): Promise<WaitResult>;
}
type WaitResult = { ok: true } | { ok: false; reason: string; byError: boolean };

// Runs in the page: make the player, collect errors, load the manifest.
async function pageLoad(a: { manifest: string; ms: number; showText: boolean }) {
  const w = window as unknown as {
    shaka: { polyfill: { installAll(): void }; Player: new () => ShakaPlayer };
    __nommer: PageState;
  };
  w.shaka.polyfill.installAll();
  const video = document.getElementById('v') as HTMLVideoElement;
  video.muted = true;
  const player = new w.shaka.Player();
  const errors: string[] = [];
  const wakers = new Set<() => void>();
  const fail = (msg: string) => {
    if (!errors.includes(msg)) errors.push(msg);
    for (const wake of wakers) wake();
  };
  const describe = (e: unknown): string => {
    const x = e as { code?: number; category?: number; severity?: number; data?: unknown[]; message?: string };
    if (typeof x?.code !== 'number') return String(x?.message ?? e);
    const data = (x.data ?? []).map((d) => {
      if (d === null || typeof d !== 'object') return String(d);
      try {
        return JSON.stringify(d).slice(0, 300);
      } catch {
        return String(d);
      }
    });
    return `shaka error ${x.code} (category ${x.category}, severity ${x.severity})${data.length ? `: ${data.join(', ')}` : ''}`;
  };
  player.addEventListener('error', (e) => fail(describe(e.detail)));
  video.addEventListener('error', () => fail(`video error ${video.error?.code}: ${video.error?.message}`));
  const until = (what: string, cond: () => boolean, ms: number) =>
    new Promise<WaitResult>((done) => {
      const events = ['timeupdate', 'resize', 'playing', 'progress', 'ended', 'pause', 'waiting'];
      let timer = 0;
      const finish = (r: WaitResult) => {
        clearTimeout(timer);
        for (const ev of events) video.removeEventListener(ev, check);
        wakers.delete(check);
        done(r);
      };
      const at = () => `currentTime ${video.currentTime.toFixed(2)}, readyState ${video.readyState}`;
      function check() {
        if (errors.length) return finish({ ok: false, reason: `${what}: ${errors[0]}`, byError: true });
        if (cond()) return finish({ ok: true });
        if (video.ended)
          return finish({ ok: false, reason: `${what}: the video ended first (${at()})`, byError: false });
        // Nothing here pauses once play() was called; a paused video would never get there.
        if (video.paused) return finish({ ok: false, reason: `${what}: the video paused (${at()})`, byError: false });
      }
      for (const ev of events) video.addEventListener(ev, check);
      wakers.add(check);
      timer = window.setTimeout(
        () => finish({ ok: false, reason: `${what}: not within ${ms} ms (${at()})`, byError: false }),
        ms,
      );
      check();
    });
  w.__nommer = { player, video, errors, until };
  player.configure({
    // Strict: report what fails instead of working around it.
    manifest: { retryParameters: { maxAttempts: 1, timeout: a.ms } },
    streaming: {
      retryParameters: { maxAttempts: 1, timeout: a.ms },
      maxDisabledTime: 0,
      allowMediaSourceRecoveries: false,
    },
  });
  await player.attach(video);
  try {
    await player.load(a.manifest);
  } catch (e) {
    fail(describe(e));
    return { loaded: false, variants: [], textTracks: [], start: 0 };
  }
  const textTracks = player.getTextTracks();
  if (a.showText && textTracks.length) {
    player.selectTextTrack(textTracks[0]); // shaka 5: selecting a text track shows (and streams) it
  }
  // An AbortError only says that something else (shaka unloading after an error) came first.
  video.play().catch((e) => {
    if ((e as Error).name !== 'AbortError') fail(`video.play(): ${e}`);
  });
  return {
    loaded: true,
    variants: player.getVariantTracks().map((t) => ({
      id: t.id,
      width: t.width,
      height: t.height,
      bandwidth: t.bandwidth,
      videoCodec: t.videoCodec,
      audioCodec: t.audioCodec,
    })),
    textTracks: textTracks.map((t) => ({ language: t.language, label: t.label, kind: t.kind })),
    start: video.currentTime,
  };
}

// Runs in the page: wait until `seconds` more of media have played.
function pagePlay(a: { seconds: number; ms: number }) {
  const s = (window as unknown as { __nommer: PageState }).__nommer;
  const from = s.video.currentTime;
  return s.until(`playing ${a.seconds} s`, () => s.video.currentTime - from >= a.seconds, a.ms);
}

// Runs in the page: ABR off, switch to the variant of the most different height, wait until it
// is active and on screen, then one more second of play. The video is paused while the switch is
// made and rewound to its start, so there is media left to show the new variant however long the
// switch takes on a busy machine (a short clip still playing could end first).
async function pageSwitch(a: { ms: number }) {
  const s = (window as unknown as { __nommer: PageState }).__nommer;
  s.player.configure({ abr: { enabled: false } });
  const tracks = s.player.getVariantTracks();
  const active = tracks.find((t) => t.active);
  const pick = (t: ShakaTrack) => ({ id: t.id, height: t.height });
  const candidates = tracks
    .filter((t) => active && t.height !== null && active.height !== null && t.height !== active.height)
    .sort((x, y) => Math.abs(y.height! - active!.height!) - Math.abs(x.height! - active!.height!) || x.id - y.id);
  const target = candidates[0];
  if (!target)
    return { switchedTo: null, active: active ? pick(active) : null, displayed: null, wait: null, before: null };
  s.video.pause();
  const before = s.video.currentTime;
  s.player.selectVariantTrack(target, true);
  s.video.currentTime = 0;
  try {
    await s.video.play();
  } catch (e) {
    // An AbortError only says that something else (shaka unloading after an error) came first.
    if ((e as Error).name !== 'AbortError') s.errors.push(`video.play() after the switch: ${e}`);
  }
  let shownAt = -1;
  const wait = await s.until(
    `switching to variant ${target.id} (${target.height}p) and playing 1 s of it`,
    () => {
      const now = s.player.getVariantTracks().find((t) => t.active);
      if (shownAt < 0 && now?.id === target.id && s.video.videoHeight === target.height) shownAt = s.video.currentTime;
      return shownAt >= 0 && s.video.currentTime - shownAt >= 1;
    },
    a.ms,
  );
  const now = s.player.getVariantTracks().find((t) => t.active);
  return {
    switchedTo: pick(target),
    active: now ? pick(now) : null,
    displayed: { width: s.video.videoWidth, height: s.video.videoHeight },
    wait,
    /** Where the video was when it was paused for the switch (it then played again from 0). */
    before,
  };
}

/** Play a manifest served by servePackage in Chromium with shaka-player; never throws for player failures. */
export async function playInBrowser(o: PlayOptions): Promise<PlayReport> {
  const seconds = o.seconds ?? 3;
  const timeoutMs = o.timeoutMs ?? 60_000;
  const report: PlayReport = {
    loaded: false,
    playedSeconds: 0,
    variants: [],
    switchedTo: null,
    activeAfterSwitch: null,
    displayedAfterSwitch: null,
    textTracks: [],
    errors: [],
    elapsedMs: 0,
  };
  const outside: string[] = []; // page and console errors, gathered by playwright
  // A page of the caller's, or a context in a browser of the caller's (shared by a file's plays: a
  // launch is a second or more) or in one of its own.
  const own = o.page || o.browser ? undefined : await launchPlayerBrowser(timeoutMs);
  const context = o.page ? undefined : await (o.browser ?? own!).newContext();
  const started = Date.now();
  const deadline = started + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  let timer: NodeJS.Timeout | undefined;
  let page: Page | undefined;
  // A wait in the page stops at once on a shaka or video error; these stop the run at once on
  // what the page cannot see (an uncaught exception, a crash), and at the deadline.
  let stop: (e: Error) => void = () => {};
  const broken = new Promise<never>((_, reject) => {
    stop = reject;
  });
  broken.catch(() => {});
  const onPageError = (e: Error) => {
    outside.push(`page error: ${e.message}`);
    stop(new Error('stopped by a page error'));
  };
  const onCrash = () => stop(new Error('the page crashed'));
  const onConsole = (m: ConsoleMessage) => {
    if (m.type() === 'error') outside.push(`console error: ${m.text()}`);
  };
  try {
    page = o.page ?? (await context!.newPage());
    const p = page;
    p.on('pageerror', onPageError);
    p.on('crash', onCrash);
    p.on('console', onConsole);
    timer = setTimeout(() => stop(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const step = <T>(x: Promise<T>) => Promise.race([x, broken]);
    const ms = () => Math.max(1, left() - 1000); // page-side bound, so its message (with state) wins

    await step(p.goto(new URL('/__player/', o.url).href));
    const loaded = await step(p.evaluate(pageLoad, { manifest: o.url, ms: ms(), showText: o.showText ?? true }));
    report.loaded = loaded.loaded;
    report.variants = loaded.variants;
    report.textTracks = loaded.textTracks;
    if (!loaded.loaded) return report;

    const currentTime = () => step(p.evaluate(() => document.querySelector('video')!.currentTime));
    const played = await step(p.evaluate(pagePlay, { seconds, ms: ms() }));
    report.playedSeconds = (await currentTime()) - loaded.start;
    if (!played.ok) {
      if (!played.byError) report.errors.push(played.reason);
      return report;
    }
    if (o.switchRendition ?? true) {
      const sw = await step(p.evaluate(pageSwitch, { ms: ms() }));
      report.switchedTo = sw.switchedTo;
      report.activeAfterSwitch = sw.active;
      report.displayedAfterSwitch = sw.displayed;
      // What played before the switch, and since the rewind that came with it.
      if (sw.before !== null) report.playedSeconds = sw.before - loaded.start + (await currentTime());
      if (!sw.switchedTo) report.errors.push('no variant of another height to switch to');
      else if (sw.wait && !sw.wait.ok && !sw.wait.byError) report.errors.push(sw.wait.reason);
    }
    return report;
  } catch (e) {
    report.errors.push(e instanceof Error ? e.message : String(e));
    return report;
  } finally {
    clearTimeout(timer);
    report.elapsedMs = Date.now() - started;
    if (page) {
      // The page's own error list (shaka, video element), bounded in case the page hangs.
      const inPage = await Promise.race([
        page
          .evaluate(() => (window as unknown as { __nommer?: PageState }).__nommer?.errors ?? [])
          .catch(() => [] as string[]),
        new Promise<string[]>((ok) => setTimeout(() => ok([]), 2000).unref()),
      ]);
      report.errors.unshift(...inPage, ...outside);
      page.off('pageerror', onPageError);
      page.off('crash', onCrash);
      page.off('console', onConsole);
      // A shared page stays open: its player stops streaming and playing until the next play
      // loads the page again (bounded like the read above).
      if (o.page)
        await Promise.race([
          page
            .evaluate(() => (window as unknown as { __nommer?: PageState }).__nommer?.player.destroy())
            .catch(() => undefined),
          new Promise<void>((ok) => setTimeout(ok, 2000).unref()),
        ]);
    }
    await context?.close().catch(() => undefined);
    await own?.close();
  }
}

/** Chromium as the player needs it (autoplay without a gesture), for sharing across plays. */
export function launchPlayerBrowser(timeoutMs = 60_000): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'],
    timeout: timeoutMs, // launching has its own bound: on a busy machine it alone can take 15 s
  });
}

/** A page in a context of its own in `browser`, for plays one after another (PlayOptions.page). */
export async function openPlayerPage(browser: Browser): Promise<Page> {
  return (await browser.newContext()).newPage();
}
