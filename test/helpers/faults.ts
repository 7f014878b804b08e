// Fault-injection tools for the fault, hostile-input and security suites: what the store says
// after a scenario (queue leases, running tasks), partial files anywhere under a directory, a
// slow ("dribbling") HTTP file server on loopback, a slow proxy in front of moto, and a small
// tmpfs to fill up. Everything listens on 127.0.0.1 only.
import { createServer, request as httpRequest, type Server, type IncomingMessage } from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../src/adapters/local/db.js';
import { pidsMatching } from './feederd.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until `pred` is true, or throw after timeoutMs with `what`. */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export interface StoreState {
  jobs: number;
  byState: Record<string, number>;
  /** Tasks the store thinks are running. */
  runningTasks: number;
  /** Task messages still in the local queue, and how many of them are leased right now. */
  queued: number;
  leased: number;
  deadLetters: number;
}

/** Read the local backend's store (read-only, beside whoever has it open). */
export function storeState(home: string): StoreState {
  const db = openDatabase(join(home, 'nommer.db'), { readonly: true });
  try {
    const byState: Record<string, number> = {};
    for (const r of db.prepare('SELECT state, count(*) AS n FROM jobs GROUP BY state').all() as Array<{
      state: string;
      n: number;
    }>)
      byState[r.state] = r.n;
    const jobs = Object.values(byState).reduce((a, b) => a + b, 0);
    const runningTasks = (db.prepare("SELECT count(*) AS n FROM tasks WHERE state = 'running'").get() as { n: number })
      .n;
    const q = db
      .prepare(
        "SELECT count(*) AS n, coalesce(sum(lease_token IS NOT NULL AND visible_at > ?), 0) AS leased FROM queue_messages WHERE queue = 'tasks'",
      )
      .get(Date.now()) as { n: number; leased: number };
    const deadLetters = (
      db.prepare("SELECT count(*) AS n FROM queue_dead_letters WHERE queue = 'tasks'").get() as { n: number }
    ).n;
    return { jobs, byState, runningTasks, queued: q.n, leased: q.leased, deadLetters };
  } finally {
    db.close();
  }
}

/** Files under dir (recursively) that look like unfinished writes: nommer's temp names and downloads. */
export function partialFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (/\.nommer-part$|\.part$/.test(n)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** ffmpeg/ffprobe processes whose command line mentions `needle` (a test's temp dir). */
export function ffmpegPids(needle: string): number[] {
  return pidsMatching(needle).filter((pid) => {
    try {
      return /(^|\/)(ffmpeg|ffprobe|setpriv)$/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '');
    } catch {
      return false;
    }
  });
}

/**
 * Running ffmpeg encoders (not ffprobe) whose command line mentions `needle`: the output's hidden
 * temp name (`<dir>/.<name>.`) or the input path. Only processes that already exec'd ffmpeg count,
 * not the `setpriv` wrapper before it: once ffmpeg runs, its parent-death signal is armed.
 */
export function encoderPids(needle: string): number[] {
  return pidsMatching(needle).filter((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return /(^|\/)ffmpeg$/.test(argv[0] ?? '') && argv.some((a) => a.includes(needle));
    } catch {
      return false;
    }
  });
}

/** The parent of `pid` (field 4 of /proc/<pid>/stat), or undefined once `pid` is gone. */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** The command line of `pid` joined with spaces, or undefined once it is gone. */
export function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/** `nommer worker` processes started by the feederd with this pid. */
export function workersOf(feederdPid: number): number[] {
  return pidsMatching(`--parent-pid ${feederdPid} `);
}

export interface DribbleServer {
  url: (name: string) => string;
  /** Bytes sent so far, per request (in order). */
  sent: number[];
  /** Requests that were cut off by the client. */
  aborted: number;
  close(): Promise<void>;
}

/**
 * Serves `files` (name -> bytes) slowly: `chunk` bytes every `tickMs`, so a test can kill the
 * downloader mid-transfer. `declaredLength` overrides Content-Length (a lying server).
 */
export async function dribbleServer(
  files: Record<string, Buffer>,
  opts: { chunk?: number; tickMs?: number; declaredLength?: number; fastAfter?: number } = {},
): Promise<DribbleServer> {
  const state: DribbleServer = { url: () => '', sent: [], aborted: 0, close: async () => {} };
  let requests = 0;
  const server: Server = createServer((req: IncomingMessage, res) => {
    const body = files[decodeURIComponent((req.url ?? '/').slice(1))];
    if (!body) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const n = requests++;
    state.sent[n] = 0;
    // After `fastAfter` requests, serve at full speed (the retry of a killed download).
    const fast = opts.fastAfter !== undefined && n >= opts.fastAfter;
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(opts.declaredLength ?? body.length),
    });
    let at = 0;
    const chunk = fast ? body.length : (opts.chunk ?? 4096);
    const tick = () => {
      if (res.destroyed) return;
      const part = body.subarray(at, at + chunk);
      at += part.length;
      state.sent[n]! += part.length;
      if (at >= body.length) {
        res.end(part);
        return;
      }
      res.write(part);
      setTimeout(tick, fast ? 0 : (opts.tickMs ?? 100));
    };
    res.on('close', () => {
      if (at < body.length) state.aborted++;
    });
    tick();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  state.url = (name) => `http://127.0.0.1:${port}/${encodeURIComponent(name)}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

export interface SlowProxy {
  endpoint: string;
  /** Requests that matched `slow` so far. */
  slowed: number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of moto that holds back requests matching `slow` for `delayMs` before
 * forwarding them (stands for a slow network to S3, so a test can kill a worker mid-upload).
 */
export async function slowProxy(
  target: string,
  slow: (method: string, url: string) => boolean,
  delayMs: number,
): Promise<SlowProxy> {
  const t = new URL(target);
  const state: SlowProxy = { endpoint: '', slowed: 0, close: async () => {} };
  const server = createServer((req, res) => {
    // A client that dies while held back must not have its request completed for it.
    let gone = false;
    res.on('close', () => {
      gone = true;
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const matched = slow(req.method ?? 'GET', req.url ?? '/');
      if (matched) state.slowed++;
      setTimeout(
        () => {
          if (gone || res.destroyed) return;
          const up = httpRequest(
            { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
            (r) => {
              res.writeHead(r.statusCode ?? 502, r.headers);
              r.pipe(res);
            },
          );
          up.on('error', () => {
            if (!res.headersSent) res.writeHead(502);
            res.end();
          });
          up.end(Buffer.concat(chunks));
        },
        matched ? delayMs : 0,
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

/** Mount a tmpfs of `size` (e.g. '1m') at dir. Null when this machine does not let us (not root). */
export function mountTmpfs(dir: string, size: string): { unmount(): void; remount(opts: string): void } | null {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return {
    unmount: () => {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    },
    remount: (o: string) => {
      execFileSync('mount', ['-o', `remount,${o}`, dir], { stdio: 'ignore' });
    },
  };
}
