// Fleet on this machine: `nommer worker` child processes (the same command that runs on EC2,
// with the local backend). feederd keeps the configured number alive; a worker that dies is
// replaced, and its task comes back through the queue when its lease expires.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import type { Fleet, WorkerNode } from '../../ports/fleet.js';

export interface ProcessFleetOptions {
  /** argv to start one worker: [node, bin/nommer, 'worker', ...]. */
  command: string[];
  env?: NodeJS.ProcessEnv;
  /** Worker stderr (its JSON log) is appended here. */
  logFile?: string;
  onExit?: (id: string, code: number | null, signal: NodeJS.Signals | null) => void;
}

interface Child {
  node: WorkerNode;
  proc: ChildProcess;
}

export class ProcessFleet implements Fleet {
  private readonly children = new Map<string, Child>();
  private n = 0;
  constructor(private readonly opts: ProcessFleetOptions) {}

  async list(): Promise<WorkerNode[]> {
    return [...this.children.values()].map((c) => ({ ...c.node }));
  }

  async launch(count: number): Promise<WorkerNode[]> {
    const started: WorkerNode[] = [];
    for (let i = 0; i < count; i++) {
      const id = `w${process.pid}-${++this.n}`;
      const fd = this.opts.logFile ? openSync(this.opts.logFile, 'a', 0o600) : undefined;
      const [cmd, ...args] = this.opts.command;
      const proc = spawn(cmd!, [...args, '--id', id], {
        env: { ...process.env, ...this.opts.env },
        stdio: ['ignore', fd ?? 'ignore', fd ?? 'inherit'],
      });
      if (fd !== undefined) closeSync(fd);
      const node: WorkerNode = { id, state: 'running', launchedAt: Date.now(), kind: 'process' };
      this.children.set(id, { node, proc });
      proc.on('exit', (code, signal) => {
        this.children.delete(id);
        this.opts.onExit?.(id, code, signal);
      });
      started.push({ ...node });
    }
    return started;
  }

  async terminate(ids: string[]): Promise<void> {
    for (const id of ids) {
      const c = this.children.get(id);
      if (!c) continue;
      c.node.state = 'stopping';
      c.proc.kill('SIGTERM');
    }
  }

  /** Pid of a worker (tests kill workers to prove recovery). */
  pidOf(id: string): number | undefined {
    return this.children.get(id)?.proc.pid;
  }

  /** Stop all: SIGTERM, wait up to graceMs, then SIGKILL. */
  async stopAll(graceMs: number): Promise<void> {
    const procs = [...this.children.values()].map((c) => c.proc);
    await this.terminate([...this.children.keys()]);
    const exited = Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r()))),
      ),
    );
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([exited, timer])) === 'timeout') for (const p of procs) p.kill('SIGKILL');
    await exited;
  }
}
