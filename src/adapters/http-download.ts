// Downloads http(s):// inputs for both backends, and owns the one way nommer writes a downloaded
// stream to disk: streamed (never buffered whole in memory), to a temporary name renamed only
// when complete, with byte progress, so a failed download leaves nothing that looks like input.
import { randomUUID } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
// undici is loaded on the first download, not with this module: every `nommer encode` imports
// this file for local paths too, and loading undici costs ~0.25 CPU-s.
import type { Agent, Response } from 'undici';
import { NommerError, asNommerError } from '../errors.js';

export interface DownloadProgress {
  signal?: AbortSignal;
  /** Called as bytes arrive; total when the server said how many to expect. */
  onBytes?: (done: number, total?: number) => void;
}

/**
 * Which addresses a download may connect to. Link-local, unspecified and cloud-metadata
 * addresses (169.254.169.254, fd00:ec2::254, in IPv4 and every IPv6 form that embeds an IPv4)
 * are refused always; the rest is per backend.
 */
export interface AddressPolicy {
  /**
   * Refuse loopback addresses too (127.0.0.0/8, ::1, and their IPv6 forms). Off by default: on the
   * local backend the worker runs on the submitter's own machine.
   */
  denyLoopback?: boolean;
  /**
   * Refuse private-network addresses too (10/8, 172.16/12, 192.168/16, 100.64/10 and their IPv6
   * forms, fc00::/7, fec0::/10). Off by default (a local worker may read from a NAS on the LAN);
   * meant for the aws backend, where those ranges are the VPC and whatever it peers with.
   */
  denyPrivate?: boolean;
  /** With denyPrivate: CIDRs ('10.20.0.0/16', 'fd12::/48') or addresses that are allowed after all. */
  allowPrivate?: readonly string[];
}

/** Every address a name resolves to (like dns.lookup with all: true). */
export type ResolveHost = (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

export interface HttpDownloadOptions extends DownloadProgress, AddressPolicy {
  /** Redirects followed before giving up (default 5). */
  maxRedirects?: number;
  /** How long to wait for the response headers of each request, ms (default 30 s). */
  headersTimeoutMs?: number;
  /** Name of the file in destDir; default: the last segment of the URL's path. */
  fileName?: string;
  /**
   * The name resolution each connection makes (default: the system resolver, dns.lookup). Its
   * answers are checked against the policy inside the connection's own lookup, so what is
   * checked is what is connected to. Injectable for tests.
   */
  lookup?: ResolveHost;
}

/** IPv6 prefixes (length 96) whose last 32 bits are an IPv4 address that routes somewhere. */
const EMBED_96 = [
  '::ffff:', // IPv4-mapped, ::ffff:0:0/96 (BlockList also maps these onto IPv4 rules itself)
  '::ffff:0:', // IPv4-translated (SIIT), ::ffff:0:0:0/96
  '::', // IPv4-compatible (deprecated), ::/96
  '64:ff9b::', // NAT64 well-known prefix, 64:ff9b::/96 (RFC 6052)
];

/** `address/prefix` of an IPv4 subnet, and the same subnet in every IPv6 form that embeds it. */
function addV4(list: BlockList, address: string, prefix: number): void {
  list.addSubnet(address, prefix, 'ipv4');
  for (const p of EMBED_96) list.addSubnet(`${p}${address}`, 96 + prefix, 'ipv6');
  // 6to4, 2002::/16: the IPv4 address of the relay is bits 16-47. (isIP has checked the dotted quad.)
  const [a, b, c, d] = address.split('.').map(Number);
  const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  list.addSubnet(`2002:${hex(a, b)}:${hex(c, d)}::`, 16 + prefix, 'ipv6');
}

/** Parse 'a.b.c.d/n', 'x::/n' or a bare address; null when it is neither. */
export function parseCidr(cidr: string): { address: string; prefix: number; family: 4 | 6 } | null {
  const slash = cidr.indexOf('/');
  const address = (slash < 0 ? cidr : cidr.slice(0, slash)).trim();
  const family = isIP(address);
  // A zone (fe80::1%eth0) names an interface, not a range.
  if ((family !== 4 && family !== 6) || address.includes('%')) return null;
  const max = family === 4 ? 32 : 128;
  const text = slash < 0 ? String(max) : cidr.slice(slash + 1).trim();
  const prefix = Number(text);
  if (!/^\d{1,3}$/.test(text) || prefix > max) return null;
  return { address, prefix, family };
}

function blockList(
  v4: ReadonlyArray<readonly [string, number]>,
  v6: ReadonlyArray<readonly [string, number]>,
): BlockList {
  const list = new BlockList();
  for (const [a, n] of v4) addV4(list, a, n);
  for (const [a, n] of v6) list.addSubnet(a, n, 'ipv6');
  return list;
}

/**
 * Where no media input lives, but credentials do: link-local (EC2/ECS/GCP/Azure metadata
 * services at 169.254.169.254 and 169.254.170.2), "this network" and the unspecified address
 * (0.0.0.0 and :: reach this host), and the EC2 IPv6 metadata range. 64:ff9b:1::/48 is the
 * local-use NAT64 prefix (RFC 8215): where in it the IPv4 address sits depends on the prefix
 * length the network chose, so it cannot be checked and is refused whole.
 */
const ALWAYS_DENIED = blockList(
  [
    ['169.254.0.0', 16],
    ['0.0.0.0', 8],
  ],
  [
    ['fe80::', 10],
    ['::', 128],
    ['fd00:ec2::', 32],
    ['64:ff9b:1::', 48],
  ],
);
const LOOPBACK = blockList([['127.0.0.0', 8]], [['::1', 128]]);
const PRIVATE = blockList(
  [
    ['10.0.0.0', 8],
    ['172.16.0.0', 12],
    ['192.168.0.0', 16],
    ['100.64.0.0', 10],
  ],
  [
    ['fc00::', 7],
    ['fec0::', 10],
  ],
);

const WHY_ALWAYS =
  'a link-local, unspecified or instance-metadata address (where cloud instance metadata and credentials live)';
const WHY_LOOPBACK = "a loopback address (this backend's workers do not download from their own machine)";
const WHY_PRIVATE =
  "a private-network address (this backend's workers do not download from private ranges unless allowed)";
const WHY_NOT_IP = 'not an IP address';

/** A policy made into one check; throws CONFIG_INVALID for an allowPrivate entry that is no CIDR. */
function compilePolicy(policy: AddressPolicy): (address: string) => string | null {
  let allowed: BlockList | undefined;
  if (policy.denyPrivate && policy.allowPrivate?.length) {
    const v4: [string, number][] = [],
      v6: [string, number][] = [];
    for (const entry of policy.allowPrivate) {
      const c = parseCidr(entry);
      if (!c)
        throw new NommerError('CONFIG_INVALID', `allowPrivate: ${JSON.stringify(entry)} is not an address or CIDR`, {
          hint: 'write ranges like 10.20.0.0/16 or fd12:3456::/48',
        });
      (c.family === 4 ? v4 : v6).push([c.address, c.prefix]);
    }
    allowed = blockList(v4, v6);
  }
  return (address) => {
    // A zone (fe80::1%eth0) names an interface, not an address: the address is what counts.
    const zone = address.indexOf('%');
    const bare = zone < 0 ? address : address.slice(0, zone);
    const family = isIP(bare);
    if (!family) return WHY_NOT_IP;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    // Loopback first: ::1 is also ::0.0.0.1, an IPv4-compatible form of 0.0.0.0/8.
    if (LOOPBACK.check(bare, type)) return policy.denyLoopback ? WHY_LOOPBACK : null;
    if (ALWAYS_DENIED.check(bare, type)) return WHY_ALWAYS;
    if (policy.denyPrivate && PRIVATE.check(bare, type) && !allowed?.check(bare, type)) return WHY_PRIVATE;
    return null;
  };
}

/** Why an address may not be downloaded from, or null when it may (also null for a name, which is no address). */
export function deniedAddress(address: string, opts: AddressPolicy = {}): string | null {
  if (!isIP(address.split('%')[0]!)) return null;
  return compilePolicy(opts)(address);
}

/** A connection refused by the address policy (the cause inside fetch's "fetch failed"). */
export class DeniedAddressError extends Error {
  readonly code = 'ERR_NOMMER_DENIED_ADDRESS';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly reason: string,
  ) {
    super(`refusing to connect to ${address}${host === address ? '' : ` (for ${host})`}, ${reason}`);
    this.name = 'DeniedAddressError';
  }
}

const systemResolve: ResolveHost = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * A net/tls `lookup` that resolves once and checks every answer before the socket may connect:
 * the answer that passed the policy is the one connected to (no second resolution for a DNS
 * server to answer differently). One denied answer fails the connection, even with others fine.
 */
export function guardedLookup(
  check: (address: string) => string | null,
  resolve: ResolveHost = systemResolve,
): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
    const answer = async () => {
      const all = await resolve(hostname);
      for (const a of all) {
        const why = check(a.address);
        if (why) throw new DeniedAddressError(hostname, a.address, why);
      }
      const wanted = family === 4 || family === 6 ? all.filter((a) => a.family === family) : all;
      if (wanted.length === 0)
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
      return wanted.map((a) => ({ address: a.address, family: a.family }));
    };
    answer().then(
      (list) => (options.all ? callback(null, list) : callback(null, list[0]!.address, list[0]!.family)),
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

/**
 * An undici Agent that connects only where the policy allows: names through guardedLookup, IP
 * literals (which net.connect does not look up) checked before the socket is made. Close it
 * when done.
 */
export async function guardedAgent(policy: AddressPolicy & { lookup?: ResolveHost } = {}): Promise<Agent> {
  const { Agent, buildConnector } = await import('undici');
  const check = compilePolicy(policy);
  const connector = buildConnector({ lookup: guardedLookup(check, policy.lookup) });
  return new Agent({
    connect: (options, callback) => {
      if (isIP(options.hostname)) {
        const why = check(options.hostname);
        if (why) return callback(new DeniedAddressError(options.hostname, options.hostname, why), null);
      }
      return connector(options, callback);
    },
  });
}

/** The policy's refusal somewhere in an error's causes. */
function deniedCause(err: unknown): DeniedAddressError | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DeniedAddressError) return e;
  }
  return undefined;
}

function deniedError(url: URL, denied: { address: string; reason: string }, cause?: unknown): NommerError {
  return new NommerError(
    'INPUT_UNREADABLE',
    `${displayUrl(url)}: refusing to download from ${denied.address}, ${denied.reason}`,
    { hint: 'give a URL of a media file on another host', cause },
  );
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
  try {
    last = decodeURIComponent(last);
  } catch {
    /* keep it encoded */
  }
  // No separators, control characters or leading dots: the name must stay inside destDir.
  const cleaned = last.replace(/[\\/\x00-\x1f]/g, '_').replace(/^\.+/, '');
  return boundName(cleaned, NAME_MAX_BYTES) || fallback;
}

/**
 * File systems bound a name in bytes (255 on most), and a name here gets a temp prefix and suffix
 * (`.<name>.<8 hex>.part`, `out-<id>-<name>`): 150 UTF-8 bytes leaves room for them.
 */
const NAME_MAX_BYTES = 150;

/**
 * `name` cut to at most `max` UTF-8 bytes, between characters (never inside one), keeping its
 * extension (what ffmpeg and people read the kind of file from): 80 CJK characters are 240 bytes.
 */
export function boundName(name: string, max: number): string {
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
  if (bytes(name) <= max) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && bytes(name.slice(dot)) <= 16 ? name.slice(dot) : '';
  let out = '';
  let room = max - bytes(ext);
  for (const ch of name.slice(0, name.length - ext.length)) {
    room -= bytes(ch);
    if (room < 0) break;
    out += ch;
  }
  return out + ext;
}

/** Errors of the local disk (as opposed to the network side of a download). */
const DISK_ERRORS = new Set([
  'ENOSPC',
  'EDQUOT',
  'EACCES',
  'EPERM',
  'EROFS',
  'EISDIR',
  'ENOENT',
  'ENOTDIR',
  'EMFILE',
  'ENFILE',
]);

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
      throw opts.sourceError(
        Object.assign(new Error(`connection closed after ${bytes} of ${opts.total} bytes`), {
          code: 'ERR_STREAM_PREMATURE_CLOSE',
        }),
      );
    }
    await rename(tempPath, finalPath);
  } catch (err) {
    await unlink(tempPath).catch(() => {
      /* never created, or already gone */
    });
    if (err instanceof NommerError) throw err;
    if (opts.signal?.aborted) throw new NommerError('CANCELED', `download of ${fileName} canceled`, { cause: err });
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (DISK_ERRORS.has(code)) {
      if (code === 'EDQUOT')
        throw new NommerError('DISK_FULL', `disk quota exceeded writing ${finalPath}`, { retriable: true, cause: err });
      if (code === 'ENOENT' || code === 'ENOTDIR')
        throw new NommerError('OUTPUT_UNWRITABLE', `download directory ${destDir} does not exist`, { cause: err });
      throw asNommerError(err);
    }
    throw opts.sourceError(err);
  }
  return { path: finalPath, bytes };
}

function statusError(status: number, url: URL): NommerError {
  const where = displayUrl(url);
  if (status === 404 || status === 410)
    return new NommerError('INPUT_NOT_FOUND', `${where}: HTTP ${status}, no such file`);
  // Timeouts and rate limits are the server's state, not the URL's: a later attempt can succeed.
  if (status === 408 || status === 429)
    return new NommerError('STORAGE_FAILED', `${where}: HTTP ${status}`, { retriable: true });
  if (status >= 500)
    return new NommerError('STORAGE_FAILED', `${where}: HTTP ${status} from the server`, { retriable: true });
  const hint =
    status === 401 || status === 403 ? 'the URL needs credentials, or a presigned URL has expired' : undefined;
  return new NommerError('INPUT_UNREADABLE', `${where}: HTTP ${status}`, { hint });
}

function networkError(err: unknown, url: URL): NommerError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = (err as NodeJS.ErrnoException).code ?? cause?.code;
  const reason = code ?? cause?.message ?? (err as Error).message ?? String(err);
  return new NommerError('STORAGE_FAILED', `${displayUrl(url)}: download failed (${reason})`, {
    retriable: true,
    cause: err,
  });
}

/** Download an http(s) URL into destDir; resolves the local path. */
export async function downloadHttp(uri: string, destDir: string, opts: HttpDownloadOptions = {}): Promise<string> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new NommerError('INPUT_NOT_FOUND', `not a valid URL: ${displayUrl(uri)}`);
  }
  // fetch refuses URLs with user:password in them: send them as Basic auth instead, and only to
  // the origin they were written for (not to wherever a redirect points).
  let auth: { origin: string; header: string } | undefined;
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username),
      pass = decodeURIComponent(url.password);
    auth = { origin: url.origin, header: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
    url.username = '';
    url.password = '';
  }
  const maxRedirects = opts.maxRedirects ?? 5;
  const headersTimeoutMs = opts.headersTimeoutMs ?? 30_000;
  // Every connection of this download (each redirect hop to a new origin makes one) resolves
  // and checks its address inside the Agent: a public URL may redirect to the metadata service,
  // and a name may resolve to it the second time it is asked.
  const agent = await guardedAgent(opts);
  try {
    return await follow(url, destDir, opts, { agent, auth, maxRedirects, headersTimeoutMs });
  } finally {
    await agent.destroy().catch(() => {
      /* already closed */
    });
  }
}

/** How follow connects: its agent, the credentials for the origin they belong to, and its limits. */
interface Connection {
  agent: Agent;
  auth?: { origin: string; header: string };
  maxRedirects: number;
  headersTimeoutMs: number;
}

async function follow(start: URL, destDir: string, opts: HttpDownloadOptions, conn: Connection): Promise<string> {
  const { fetch } = await import('undici');
  let url = start;
  for (let redirects = 0; ; redirects++) {
    if (opts.signal?.aborted) throw new NommerError('CANCELED', `download of ${displayUrl(url)} canceled`);
    if (!/^https?:$/.test(url.protocol))
      throw new NommerError('INPUT_UNREADABLE', `${displayUrl(url)}: only http and https URLs can be downloaded`);
    // One controller per request: the headers timeout must not cut a long body transfer short.
    const controller = new AbortController();
    const onAbort = () => controller.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await requestHeaders(fetch, url, controller, opts.signal, conn);
      if (res.status >= 300 && res.status < 400 && res.status !== 304) {
        url = await redirectTarget(res, url, redirects, conn.maxRedirects);
        continue;
      }
      return await saveBody(res, url, destDir, opts, controller.signal);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}

/**
 * One request, up to its headers (within headersTimeoutMs), redirects not followed: follow does
 * that by hand, to count them against our limit and to re-check the scheme. Credentials go only
 * to their own origin. A failure is said as nommer's error: canceled, denied, timed out, network.
 */
async function requestHeaders(
  fetch: typeof import('undici').fetch,
  url: URL,
  controller: AbortController,
  signal: AbortSignal | undefined,
  { agent, auth, headersTimeoutMs }: Connection,
): Promise<Response> {
  const timer = setTimeout(() => controller.abort(new Error('headers timeout')), headersTimeoutMs);
  try {
    return await fetch(url, {
      dispatcher: agent,
      redirect: 'manual',
      signal: controller.signal,
      headers: auth && url.origin === auth.origin ? { authorization: auth.header } : {},
    });
  } catch (err) {
    if (signal?.aborted) throw new NommerError('CANCELED', `download of ${displayUrl(url)} canceled`, { cause: err });
    const denied = deniedCause(err);
    if (denied) throw deniedError(url, denied, err);
    if (controller.signal.aborted)
      throw new NommerError('STORAGE_FAILED', `${displayUrl(url)}: no response within ${headersTimeoutMs} ms`, {
        retriable: true,
        cause: err,
      });
    throw networkError(err, url);
  } finally {
    clearTimeout(timer);
  }
}

/** Where a redirect leads, its body dropped; never with credentials in the URL, and never past maxRedirects. */
async function redirectTarget(res: Response, url: URL, redirects: number, maxRedirects: number): Promise<URL> {
  await res.body?.cancel().catch(() => {});
  const location = res.headers.get('location');
  if (!location)
    throw new NommerError('INPUT_UNREADABLE', `${displayUrl(url)}: HTTP ${res.status} redirect without a Location`);
  if (redirects >= maxRedirects)
    throw new NommerError('INPUT_UNREADABLE', `${displayUrl(url)}: more than ${maxRedirects} redirects`, {
      hint: 'check the URL; it may redirect in a loop',
    });
  const next = new URL(location, url);
  next.username = '';
  next.password = '';
  return next;
}

/** A final response's body streamed to a file in destDir (streamToFile); anything but a 2xx with a body is an error. */
async function saveBody(
  res: Response,
  url: URL,
  destDir: string,
  opts: HttpDownloadOptions,
  signal: AbortSignal,
): Promise<string> {
  if (res.status < 200 || res.status >= 300 || !res.body) {
    await res.body?.cancel().catch(() => {});
    throw statusError(res.status, url);
  }
  const length = res.headers.get('content-length');
  // A compressed transfer's length is not the file's length.
  const total = length !== null && !res.headers.get('content-encoding') ? Number(length) : undefined;
  const fileName = opts.fileName ?? safeFileName(url.pathname);
  const { path } = await streamToFile(Readable.fromWeb(res.body), destDir, fileName, {
    signal,
    onBytes: opts.onBytes,
    total: Number.isFinite(total) ? total : undefined,
    sourceError: (err) => networkError(err, url),
  });
  return path;
}
