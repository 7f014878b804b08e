// Downloads http(s):// inputs for both backends, and owns the one way nommer writes a downloaded
// stream to disk: streamed (never buffered whole in memory), to a temporary name renamed only
// when complete, with byte progress, so a failed download leaves nothing that looks like input.
import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createWriteStream } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { NommerError, asNommerError } from '../errors.js';

export interface DownloadProgress {
  signal?: AbortSignal;
  /** Called as bytes arrive; total when the server said how many to expect. */
  onBytes?: (done: number, total?: number) => void;
}

export interface HttpDownloadOptions extends DownloadProgress {
  /** Redirects followed before giving up (default 5). */
  maxRedirects?: number;
  /** How long to wait for the response headers of each request, ms (default 30 s). */
  headersTimeoutMs?: number;
  /** Name of the file in destDir; default: the last segment of the URL's path. */
  fileName?: string;
  /**
   * Refuse loopback addresses too (127.0.0.0/8, ::1). Off by default: on the local backend the
   * worker runs on the submitter's own machine. Link-local and unspecified addresses (cloud
   * instance metadata at 169.254.169.254, fd00:ec2::254) are refused always.
   */
  denyLoopback?: boolean;
}

/**
 * Where no media input lives, but credentials do: link-local (EC2/ECS/GCP/Azure metadata
 * services), the unspecified address (0.0.0.0 reaches this host), and the EC2 IPv6 metadata
 * address. IPv4-mapped IPv6 forms (::ffff:169.254.169.254) match the IPv4 rules.
 */
const ALWAYS_DENIED = new BlockList();
ALWAYS_DENIED.addSubnet('169.254.0.0', 16, 'ipv4');
ALWAYS_DENIED.addSubnet('0.0.0.0', 8, 'ipv4');
ALWAYS_DENIED.addSubnet('fe80::', 10, 'ipv6');
ALWAYS_DENIED.addAddress('::', 'ipv6');
ALWAYS_DENIED.addAddress('fd00:ec2::254', 'ipv6');
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Why an address may not be downloaded from, or null when it may. */
export function deniedAddress(address: string, opts: { denyLoopback?: boolean } = {}): string | null {
  const family = isIP(address);
  if (!family) return null;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (ALWAYS_DENIED.check(address, type)) return 'a link-local or unspecified address (where cloud instance metadata and credentials live)';
  if (opts.denyLoopback && LOOPBACK.check(address, type)) return 'a loopback address (this backend\'s workers do not download from their own machine)';
  return null;
}

/**
 * Check every address the URL's host resolves to. (fetch resolves the name again, so a DNS
 * server that answers differently the second time is not caught here; the redirect hops are.)
 */
async function checkDestination(url: URL, opts: { denyLoopback?: boolean }): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try { addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address); } catch { return; /* fetch reports the DNS failure */ }
  }
  for (const a of addresses) {
    const why = deniedAddress(a, opts);
    if (why) throw new NommerError('INPUT_UNREADABLE', `${displayUrl(url)}: refusing to download from ${a}, ${why}`, { hint: 'give a URL of a media file on another host' });
  }
}


/** A URL fit for messages and logs: no user:password, no query (presigned URLs carry keys there). */
export function displayUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

/** A safe local file name from the last segment of a URL path or an object key. */
export function safeFileName(pathLike: string, fallback = 'input'): string {
  let last = pathLike.split('/').filter(Boolean).pop() ?? '';
  try { last = decodeURIComponent(last); } catch { /* keep it encoded */ }
  // No separators, control characters or leading dots: the name must stay inside destDir.
  const cleaned = last.replace(/[\\/\x00-\x1f]/g, '_').replace(/^\.+/, '').slice(-200);
  return cleaned || fallback;
}

/** Errors of the local disk (as opposed to the network side of a download). */
const DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'EISDIR', 'ENOENT', 'ENOTDIR', 'EMFILE', 'ENFILE']);

/**
 * Write `source` to `destDir/fileName` via a temporary name, reporting bytes. Disk errors become
 * DISK_FULL / OUTPUT_UNWRITABLE, an abort becomes CANCELED, anything else from the source goes
 * through `sourceError` (the caller knows whether its network is retriable). A short stream
 * (fewer bytes than `total`) is a source error too.
 */
export async function streamToFile(
  source: Readable,
  destDir: string,
  fileName: string,
  opts: DownloadProgress & { total?: number; sourceError: (err: unknown) => NommerError },
): Promise<{ path: string; bytes: number }> {
  const finalPath = join(destDir, fileName);
  const tempPath = join(destDir, `.${fileName}.${randomUUID().slice(0, 8)}.part`);
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      opts.onBytes?.(bytes, opts.total);
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, counter, createWriteStream(tempPath, { flags: 'wx' }), { signal: opts.signal });
    if (opts.total !== undefined && bytes !== opts.total) {
      throw opts.sourceError(Object.assign(new Error(`connection closed after ${bytes} of ${opts.total} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    }
    await rename(tempPath, finalPath);
  } catch (err) {
    await unlink(tempPath).catch(() => { /* never created, or already gone */ });
    if (err instanceof NommerError) throw err;
    if (opts.signal?.aborted) throw new NommerError('CANCELED', `download of ${fileName} canceled`, { cause: err });
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (DISK_ERRORS.has(code)) {
      if (code === 'EDQUOT') throw new NommerError('DISK_FULL', `disk quota exceeded writing ${finalPath}`, { retriable: true, cause: err });
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new NommerError('OUTPUT_UNWRITABLE', `download directory ${destDir} does not exist`, { cause: err });
      throw asNommerError(err);
    }
    throw opts.sourceError(err);
  }
  return { path: finalPath, bytes };
}

function statusError(status: number, url: URL): NommerError {
  const where = displayUrl(url);
  if (status === 404 || status === 410) return new NommerError('INPUT_NOT_FOUND', `${where}: HTTP ${status}, no such file`);
  // Timeouts and rate limits are the server's state, not the URL's: a later attempt can succeed.
  if (status === 408 || status === 429) return new NommerError('STORAGE_FAILED', `${where}: HTTP ${status}`, { retriable: true });
  if (status >= 500) return new NommerError('STORAGE_FAILED', `${where}: HTTP ${status} from the server`, { retriable: true });
  const hint = status === 401 || status === 403 ? 'the URL needs credentials, or a presigned URL has expired' : undefined;
  return new NommerError('INPUT_UNREADABLE', `${where}: HTTP ${status}`, { hint });
}

function networkError(err: unknown, url: URL): NommerError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = (err as NodeJS.ErrnoException).code ?? cause?.code;
  const reason = code ?? cause?.message ?? (err as Error).message ?? String(err);
  return new NommerError('STORAGE_FAILED', `${displayUrl(url)}: download failed (${reason})`, { retriable: true, cause: err });
}

/** Download an http(s) URL into destDir; resolves the local path. */
export async function downloadHttp(uri: string, destDir: string, opts: HttpDownloadOptions = {}): Promise<string> {
  let url: URL;
  try { url = new URL(uri); } catch { throw new NommerError('INPUT_NOT_FOUND', `not a valid URL: ${displayUrl(uri)}`); }
  // fetch refuses URLs with user:password in them: send them as Basic auth instead, and only to
  // the origin they were written for (not to wherever a redirect points).
  let auth: { origin: string; header: string } | undefined;
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username), pass = decodeURIComponent(url.password);
    auth = { origin: url.origin, header: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
    url.username = '';
    url.password = '';
  }
  const maxRedirects = opts.maxRedirects ?? 5;
  const headersTimeoutMs = opts.headersTimeoutMs ?? 30_000;

  for (let redirects = 0; ; redirects++) {
    if (opts.signal?.aborted) throw new NommerError('CANCELED', `download of ${displayUrl(url)} canceled`);
    if (!/^https?:$/.test(url.protocol)) throw new NommerError('INPUT_UNREADABLE', `${displayUrl(url)}: only http and https URLs can be downloaded`);
    // Checked on every hop: a public URL may redirect to the metadata service.
    await checkDestination(url, opts);
    // One controller per request: the headers timeout must not cut a long body transfer short.
    const controller = new AbortController();
    const onAbort = () => controller.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new Error('headers timeout')), headersTimeoutMs);
    try {
      let res: Response;
      try {
        // Redirects followed by hand: to count them against our limit and to re-check the scheme.
        res = await fetch(url, { redirect: 'manual', signal: controller.signal, headers: auth && url.origin === auth.origin ? { authorization: auth.header } : {} });
      } catch (err) {
        if (opts.signal?.aborted) throw new NommerError('CANCELED', `download of ${displayUrl(url)} canceled`, { cause: err });
        if (controller.signal.aborted) throw new NommerError('STORAGE_FAILED', `${displayUrl(url)}: no response within ${headersTimeoutMs} ms`, { retriable: true, cause: err });
        throw networkError(err, url);
      } finally {
        clearTimeout(timer);
      }

      if (res.status >= 300 && res.status < 400 && res.status !== 304) {
        await res.body?.cancel().catch(() => {});
        const location = res.headers.get('location');
        if (!location) throw new NommerError('INPUT_UNREADABLE', `${displayUrl(url)}: HTTP ${res.status} redirect without a Location`);
        if (redirects >= maxRedirects) throw new NommerError('INPUT_UNREADABLE', `${displayUrl(url)}: more than ${maxRedirects} redirects`, { hint: 'check the URL; it may redirect in a loop' });
        url = new URL(location, url);
        url.username = '';
        url.password = '';
        continue;
      }
      if (res.status < 200 || res.status >= 300 || !res.body) {
        await res.body?.cancel().catch(() => {});
        throw statusError(res.status, url);
      }

      const length = res.headers.get('content-length');
      // A compressed transfer's length is not the file's length.
      const total = length !== null && !res.headers.get('content-encoding') ? Number(length) : undefined;
      const fileName = opts.fileName ?? safeFileName(url.pathname);
      const finalUrl = url;
      const { path } = await streamToFile(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), destDir, fileName, {
        signal: controller.signal,
        onBytes: opts.onBytes,
        total: Number.isFinite(total) ? total : undefined,
        sourceError: (err) => networkError(err, finalUrl),
      });
      return path;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}
