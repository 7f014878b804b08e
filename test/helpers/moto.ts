// Runs a private moto server (the AWS-API emulator) for one test file: its own port and its own
// process, so test files can run in parallel without sharing state, and fake credentials so a
// test can never reach a real AWS account. See /work/shared/AWS-EMULATION.md for what moto does
// differently.
//
// Under `npm test` (scripts/test-run.sh) the server is forked from a zygote that has loaded moto
// once (test/helpers/moto-zygote.py, its socket named by NOMMER_MOTO_ZYGOTE): a moto_server start
// costs ~2.6 CPU-s, mostly Python loading moto, and the suite starts over twenty. Without it (one
// file run by hand) each server is a `moto_server` process, as before.
import { spawn, spawnSync } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Moto {
  /** http://127.0.0.1:PORT — pass as the `endpoint` setting of the clients. */
  endpoint: string;
  port: number;
  /** Wipe every resource in this server (all services, IAM included). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export interface MotoOptions {
  /** Extra environment for the server, e.g. { INITIAL_NO_AUTH_ACTION_COUNT: '5' }. */
  env?: Record<string, string>;
  /** How long to wait for the server to answer, ms. */
  startTimeoutMs?: number;
}

/** Fake credentials for the test process: the SDK's default chain picks these up. */
export function useFakeAwsCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  process.env.AWS_REGION = 'us-east-1';
  // A developer's real profile, session token or the instance metadata service must never leak in.
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How to kill each running server at once, from a synchronous exit hook. */
const running = new Set<() => void>();
let exitHookInstalled = false;
function killAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test file that crashes must not leave servers behind holding ports.
  const killAll = () => {
    for (const kill of running) kill();
  };
  process.on('exit', killAll);
  // 'exit' does not run when the test runner stops this process with a signal (a timeout,
  // Ctrl-C): kill the servers, then die of the same signal as we would have.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Environment names a zygote's server honours: moto settings read at request time. Others (say
 * MOTO_EC2_LOAD_DEFAULT_AMIS) shape a backend when it is made, which the zygote did before any
 * request: a server given one of those is a fresh moto_server instead.
 */
const ZYGOTE_ENV = new Set(['INITIAL_NO_AUTH_ACTION_COUNT']);

export async function startMoto(opts: MotoOptions = {}): Promise<Moto> {
  useFakeAwsCredentials();
  killAllOnExit();
  const zygote = process.env.NOMMER_MOTO_ZYGOTE;
  if (zygote && Object.keys(opts.env ?? {}).every((name) => ZYGOTE_ENV.has(name))) {
    return startFromZygote(zygote, opts);
  }
  // The port found free may be taken again before moto binds it; try a few times.
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(await freePort(), opts);
    } catch (err) {
      lastError = err as Error;
      if ((err as Error).message.startsWith('moto_server not found')) throw err;
    }
  }
  throw lastError ?? new Error('moto_server did not start');
}

function motoHandle(endpoint: string, port: number, stop: () => Promise<void>): Moto {
  return {
    endpoint,
    port,
    async reset() {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
    },
    stop,
  };
}

/**
 * A server forked by the zygote. The connection that asked for it is its lifetime: the server
 * exits when our end closes (stop(), or this process dying by any means), and we see the
 * connection close when the server has exited (its descriptors, the listening port included,
 * are closed by the kernel as it exits).
 */
async function startFromZygote(socketPath: string, opts: MotoOptions): Promise<Moto> {
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const conn = createConnection(socketPath);
  conn.setEncoding('utf8');
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    conn.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  const reply = await new Promise<{ pid?: number; port?: number; error?: string }>((resolve, reject) => {
    let line = '';
    const fail = (err: Error) => {
      clearTimeout(timer);
      conn.destroy();
      reject(new Error(`moto zygote (${socketPath}) did not start a server: ${err.message}`));
    };
    // Only a hang meets this deadline: a zygote or child that fails closes the connection.
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    conn.on('data', (chunk: string) => {
      line += chunk;
      const end = line.indexOf('\n');
      if (end < 0) return;
      clearTimeout(timer);
      conn.removeAllListeners('data');
      resolve(JSON.parse(line.slice(0, end)));
    });
    conn.once('error', fail);
    conn.once('end', () => fail(new Error('it closed the connection before answering')));
    conn.write(`${JSON.stringify({ env: opts.env ?? {} })}\n`);
  });
  conn.removeAllListeners('error');
  conn.removeAllListeners('end');
  // From here an error (ECONNRESET when the server is killed) only comes before 'close'.
  conn.on('error', () => undefined);
  const { pid, port } = reply;
  if (reply.error !== undefined || pid === undefined || port === undefined) {
    conn.destroy();
    throw new Error(`moto zygote (${socketPath}) could not start a server: ${reply.error ?? JSON.stringify(reply)}`);
  }
  // While the connection is open the server holds its other end, so the pid is still its own;
  // one that exited a moment ago (its 'close' not handled yet) is already gone (ESRCH).
  const kill = () => {
    if (isClosed) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  };
  running.add(kill);
  void closed.then(() => running.delete(kill));

  const stop = async (): Promise<void> => {
    if (isClosed) return;
    // The server exits as soon as it sees our end close; SIGKILL is for one that does not.
    conn.end();
    const killTimer = setTimeout(kill, 3000);
    await closed;
    clearTimeout(killTimer);
  };
  // The child answers once it listens on the port: no need to poll it.
  return motoHandle(`http://127.0.0.1:${port}`, port, stop);
}

let motoServerCommand: string | undefined;
/**
 * The moto_server to spawn: NOMMER_MOTO_SERVER (scripts/test-run.sh sets it), else the script
 * scripts/moto-python.sh finds, asked once per process: through a pyenv shim it is the script the
 * shim stands for (the shim runs pyenv, ~40 processes and ~0.35 CPU-s, on every start).
 */
function motoServer(): string {
  if (motoServerCommand) return motoServerCommand;
  motoServerCommand = process.env.NOMMER_MOTO_SERVER;
  if (!motoServerCommand) {
    const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'scripts', 'moto-python.sh');
    // Without a moto_server on PATH, spawning the name gives the "not found" error below.
    const found = spawnSync('bash', [script], { encoding: 'utf8' });
    motoServerCommand = (found.status === 0 && found.stdout.split('\n')[0]) || 'moto_server';
  }
  return motoServerCommand;
}

async function startOnce(port: number, opts: MotoOptions): Promise<Moto> {
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(motoServer(), ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const kill = () => child.kill('SIGKILL');
  running.add(kill);
  let stderrTail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
  });
  let exited: { code: number | null; error?: NodeJS.ErrnoException } | undefined;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      exited = { code: null, error };
      running.delete(kill);
      resolve();
    });
    child.once('exit', (code) => {
      exited ??= { code };
      running.delete(kill);
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exitedPromise;
    clearTimeout(killTimer);
  };

  // A moto that exits fails at once (in the loop); the deadline only catches a hang (under a load of ~40
  // on 2 cores moto took over 20 s to answer).
  const deadline = Date.now() + (opts.startTimeoutMs ?? 120_000);
  for (;;) {
    if (exited) {
      if (exited.error?.code === 'ENOENT') throw new Error("moto_server not found: pip install 'moto[server]'");
      throw new Error(
        `moto_server exited (code ${exited.code}) before answering on ${endpoint}: ${stderrTail.trim().slice(-500)}`,
      );
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `moto_server did not answer on ${endpoint} within ${opts.startTimeoutMs ?? 120_000} ms: ${stderrTail.trim().slice(-500)}`,
      );
    }
    await sleep(100);
  }

  return motoHandle(endpoint, port, stop);
}
