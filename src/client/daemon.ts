// Starting and stopping feederd as a background daemon, and connecting to it (starting it when
// none runs, for `submit`). The daemon records its address in the data dir (feederd.json).
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import type { LoadedConfig } from '../config.js';
import { NommerError } from '../errors.js';
import { dataPaths, ensureDataDir, nommerBin, privateFile } from '../paths.js';
import { ApiClient, discoverApi } from './api-client.js';
import { readEndpointFileOrNone } from './endpoint-file.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readPid(home: string): number | null {
  try {
    const pid = Number(readFileSync(dataPaths(home).pid, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** A client for the running feederd, or null when none answers. */
export async function findRunning(loaded: LoadedConfig, apiOverride?: string): Promise<ApiClient | null> {
  const ep = await discoverApi(loaded.home, apiOverride, loaded.config.api.token);
  if (!ep) return null;
  const client = new ApiClient(ep, 5000);
  try {
    await client.health();
    return new ApiClient(ep);
  } catch {
    return apiOverride || process.env.NOMMER_API ? new ApiClient(ep) : null;
  }
}

function recordedPid(home: string): number | null {
  return readEndpointFileOrNone(dataPaths(home).api)?.pid ?? null;
}

export interface DaemonStart {
  pid: number;
  url: string;
  logFile: string;
}

/** Start feederd detached, wait (bounded) until its API answers. */
export async function startDaemon(loaded: LoadedConfig, args: string[] = [], timeoutMs = 20_000): Promise<DaemonStart> {
  const paths = dataPaths(loaded.home);
  ensureDataDir(loaded.home);
  const running = readPid(loaded.home);
  if (running) {
    const c = await findRunning(loaded);
    if (c) return { pid: running, url: c.endpoint.url, logFile: paths.log };
  }
  let fd: number;
  try {
    fd = openSync(paths.log, 'a', 0o600);
    privateFile(paths.log);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new NommerError(
      'CONFIG_INVALID',
      `cannot start feederd: the data dir ${loaded.home} is not writable (${code || (err as Error).message})`,
      { hint: 'fix its permissions or mount, or point NOMMER_HOME at another directory' },
    );
  }
  const child = spawn(
    process.execPath,
    [nommerBin(), ...(loaded.filepath ? ['--config', loaded.filepath] : []), 'feederd', ...args],
    {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, NOMMER_HOME: loaded.home },
    },
  );
  closeSync(fd);
  let exited: number | null = null;
  child.on('exit', (code) => {
    exited = code ?? 1;
  });
  child.unref();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== null) {
      const tail = readFileSync(paths.log, 'utf8').trim().split('\n').slice(-3).join('\n');
      throw new NommerError('API_UNREACHABLE', `feederd exited at start (code ${exited})`, {
        hint: `see ${paths.log}`,
        detail: tail,
      });
    }
    // feederd.json keeps the token between runs; the new feederd's answer is the one with its pid.
    const c = await findRunning(loaded);
    if (c && recordedPid(loaded.home) === child.pid)
      return { pid: child.pid!, url: c.endpoint.url, logFile: paths.log };
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new NommerError('API_UNREACHABLE', `feederd did not answer within ${timeoutMs / 1000} s`, {
    hint: `see ${paths.log}`,
  });
}

/** SIGTERM the daemon and wait for it to exit (it finishes or re-queues in-flight work). */
export async function stopDaemon(
  home: string,
  timeoutMs = 60_000,
  force = false,
): Promise<{ pid: number | null; stopped: boolean }> {
  const pid = readPid(home);
  if (!pid) return { pid: null, stopped: false };
  process.kill(pid, 'SIGTERM');
  if (force)
    setTimeout(() => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }, 200);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return { pid, stopped: true };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new NommerError('INTERNAL', `feederd (pid ${pid}) did not stop within ${timeoutMs / 1000} s`, {
    hint: 'run `nommer feederd stop --force` to make it release work at once',
  });
}
