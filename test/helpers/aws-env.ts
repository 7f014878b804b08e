// An aws-backend setup on moto for end-to-end tests: bucket and queues created with
// `setupAws`, a config file pointing nommer at the server, and real `nommer worker` processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { setupAws } from '../../src/adapters/aws/setup.js';
import { startMoto, type Moto } from './moto.js';
import { NOMMER_BIN } from './cli.js';
import { startFeederd, type RunningFeederd } from './feederd.js';
import { tempDir } from './media.js';
import { sharedOnce } from './shared-once.js';

export interface AwsEnv {
  moto: Moto;
  bucket: string;
  prefix: string;
  config: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
}

export async function startAwsEnv(opts: { maxAttempts?: number; leaseSeconds?: number } = {}): Promise<AwsEnv> {
  const moto = await startMoto();
  const bucket = 'nommer-test';
  const prefix = `t${Date.now().toString(36)}`;
  const maxAttempts = opts.maxAttempts ?? 3;
  await setupAws(
    { endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' },
    { bucket, queuePrefix: prefix, maxReceiveCount: maxAttempts + 2 },
  );
  const config = {
    backend: 'aws',
    jobs: { leaseSeconds: opts.leaseSeconds ?? 2, maxAttempts },
    aws: { bucket, queuePrefix: prefix, endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' },
  };
  const env = {
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  return { moto, bucket, prefix, config, env };
}

/** A real `nommer worker --backend aws` in `dir` (which holds the config file). */
export function startAwsWorker(dir: string, env: NodeJS.ProcessEnv, id: string, extra: string[] = []): ChildProcess {
  return spawn(process.execPath, [NOMMER_BIN, 'worker', '--backend', 'aws', '--id', id, ...extra], {
    cwd: dir,
    env: { ...process.env, ...env, NOMMER_HOME: join(dir, 'home'), NOMMER_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/**
 * One test file's aws rig: moto and the queues made before its tests; after them every worker
 * process killed, every feederd stopped, moto stopped and every temp dir removed. Tests push what
 * they start into `procs`, `feeders` and `dirs`.
 */
export interface AwsRig {
  /** The running moto and its settings (set by the file's `before`). */
  readonly aws: AwsEnv;
  readonly procs: ChildProcess[];
  readonly feeders: RunningFeederd[];
  readonly dirs: Array<{ cleanup(): void }>;
}

export function awsRig(opts: { maxAttempts?: number; leaseSeconds?: number } = {}): AwsRig {
  let env: AwsEnv | undefined;
  const procs: ChildProcess[] = [];
  const feeders: RunningFeederd[] = [];
  const dirs: Array<{ cleanup(): void }> = [];
  before(async () => {
    env = await startAwsEnv(opts);
  });
  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    for (const f of feeders) await f.kill().catch(() => undefined);
    await env?.moto.stop();
    for (const d of dirs) d.cleanup();
  });
  return {
    get aws(): AwsEnv {
      if (!env) throw new Error('the aws rig is used before its before() ran');
      return env;
    },
    procs,
    feeders,
    dirs,
  };
}

/** A temp dir the rig removes after the file's tests. */
function rigDir(rig: AwsRig): string {
  const d = tempDir();
  rig.dirs.push(d);
  return d.path;
}

/** A feederd on the rig (no workers: the tests start their own) in a directory of its own. */
export async function rigFeederd(
  rig: AwsRig,
  config: Record<string, unknown>,
): Promise<{ dir: string; f: RunningFeederd }> {
  const dir = rigDir(rig);
  const f = await startFeederd(dir, { workers: 0, config, env: rig.aws.env });
  rig.feeders.push(f);
  return { dir, f };
}

/**
 * One rigFeederd shared by the tests of a file (a start costs about 3 s of CPU), made when the
 * first of them asks; each call gets a directory of its own for its media. `config` is read then,
 * after the rig's `before`. Workers run in the feederd's directory (f.dir), whose config names the
 * aws backend.
 */
export function sharedRigFeederd(
  rig: AwsRig,
  config: () => Record<string, unknown>,
): () => Promise<{ dir: string; f: RunningFeederd }> {
  const shared = sharedOnce(() => rigFeederd(rig, config()));
  return async () => ({ dir: rigDir(rig), f: (await shared()).f });
}
