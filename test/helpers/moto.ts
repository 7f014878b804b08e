// Runs a private moto_server (the AWS-API emulator) for one test file: its own port, so test
// files can run in parallel without sharing state, and fake credentials so a test can never
// reach a real AWS account. See /work/shared/AWS-EMULATION.md for what moto does differently.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

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

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function killAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test file that crashes must not leave servers behind holding ports.
  const killAll = () => {
    for (const child of running) child.kill('SIGKILL');
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

export async function startMoto(opts: MotoOptions = {}): Promise<Moto> {
  useFakeAwsCredentials();
  killAllOnExit();
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

async function startOnce(port: number, opts: MotoOptions): Promise<Moto> {
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  let stderrTail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
  });
  let exited: { code: number | null; error?: NodeJS.ErrnoException } | undefined;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      exited = { code: null, error };
      running.delete(child);
      resolve();
    });
    child.once('exit', (code) => {
      exited ??= { code };
      running.delete(child);
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
