// A local worker that dies while committing a package leaves no hidden copy of the package
// (issue 23, item 9): the package's files are prepared inside its directory (its URI), and the
// sweeps of dead workers' temps (the dead-worker sweep, the job-end sweep) look there too.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FsStorage, removeTempsOfWorkers } from '../src/adapters/local/fs-storage.js';
import { createLogger } from '../src/log.js';
import { LocalFleet } from '../src/orchestrator/local-fleet.js';
import { SMALL_ABR_PRESETS } from './helpers/abr.js';
import { pidsMatching, startFeederd, waitForJob } from './helpers/feederd.js';
import { tempDir } from './helpers/media.js';

const dirs: Array<{ cleanup(): void }> = [];
after(() => {
  for (const d of dirs) d.cleanup();
});

const FILES = ['init-stream0.m4s', 'chunk-stream0-00001.m4s', 'manifest.mpd'];

/** What runPackageTask does before its commit: a temp of every package file, tagged with the delivery. */
async function prepareLikeAPackage(dir: string, tag: string): Promise<string[]> {
  const storage = new FsStorage();
  const paths: string[] = [];
  for (const f of FILES) {
    const o = await storage.prepareOutput(join(dir, f), { overwrite: false, tag, scratchDir: dir });
    writeFileSync(o.path, `part of ${f}`);
    paths.push(o.path);
  }
  return paths;
}

test("the sweep removes a gone worker's temps inside a package directory, and nothing else", async () => {
  const d = tempDir();
  dirs.push(d);
  const pkg = join(d.path, 'title');
  const gone = await prepareLikeAPackage(pkg, 'w4242-1.1.1');
  const alive = await prepareLikeAPackage(pkg, 'w4242-2.1.1');
  writeFileSync(join(pkg, '.users-own.nommer-part.txt'), 'the user’s');
  const n = await removeTempsOfWorkers(pkg, (w) => w === 'w4242-1');
  assert.equal(n, FILES.length);
  for (const p of gone) assert.ok(!existsSync(p), `${p} removed`);
  for (const p of alive) assert.ok(existsSync(p), `${p} (a live worker's) kept`);
  assert.ok(existsSync(join(pkg, '.users-own.nommer-part.txt')));
});

test("the job-end sweep lists the running workers only when a local worker's temp is there, and removes only a gone one's", async () => {
  const d = tempDir();
  dirs.push(d);
  const out = join(d.path, 'out.webm');
  let listed = 0;
  const fleet = new LocalFleet({
    home: join(d.path, 'home'),
    wanted: 0,
    shutdownGraceSeconds: 0,
    workerLog: join(d.path, 'workers.log'),
    outputsOf: () => [],
    log: createLogger('test', { level: 'silent' }),
    liveWorkers: () => {
      listed++;
      return new Set(['w4242-2']);
    },
  });
  const storage = new FsStorage();
  const temp = async (tag: string) => {
    const o = await storage.prepareOutput(out, { overwrite: false, tag, scratchDir: d.path });
    writeFileSync(o.path, tag);
    return o.path;
  };
  // Only a user's own file and an EC2 worker's temp beside the output: no process is listed.
  writeFileSync(join(d.path, '.out.webm.users-own'), 'the user’s');
  const ec2 = await temp('i-0abc.1.1');
  await fleet.sweepEndedJob([out]);
  assert.equal(listed, 0, 'the processes were listed with no local worker temp to judge');
  const gone = await temp('w4242-1.1.1');
  const running = await temp('w4242-2.1.1');
  await fleet.sweepEndedJob([out]);
  assert.equal(listed, 1, 'the processes are listed once per sweep');
  assert.ok(!existsSync(gone), "the gone worker's temp is removed");
  assert.ok(existsSync(running), "the running worker's temp is kept");
  assert.ok(existsSync(ec2), "an EC2 worker's temp is kept");
  assert.ok(existsSync(join(d.path, '.out.webm.users-own')));
});

test('a local worker killed while it holds a package task: feederd sweeps its temps from the package directory', async () => {
  // Running by construction: the input's fetch is held until the test ends.
  let held: ServerResponse | undefined;
  let gotHeld!: () => void;
  const isHeld = new Promise<void>((r) => {
    gotHeld = r;
  });
  const server = createServer((_req, res) => {
    held ??= res;
    gotHeld();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const d = tempDir('nommer-sweep-');
  dirs.push(d);
  const f = await startFeederd(d.path, { workers: 1, config: { presets: SMALL_ABR_PRESETS } });
  try {
    const pkg = join(d.path, 'title');
    const { job } = await f.client.createJob({
      input: `http://127.0.0.1:${(server.address() as AddressInfo).port}/held.mp4`,
      outputs: [{ preset: 'abr-small', uri: pkg }],
    });
    await isHeld;
    const running = await waitForJob(f.client, job.id, (j) => j.state === 'running' && j.worker !== null);
    const worker = running.worker!;
    // What that worker leaves when it dies between preparing and committing the package.
    mkdirSync(pkg, { recursive: true });
    const left = await prepareLikeAPackage(pkg, `${worker}.1.1`);
    const pids = pidsMatching(`--id ${worker}`);
    assert.equal(pids.length, 1, `one process is worker ${worker}`);
    process.kill(pids[0]!, 'SIGKILL');
    for (let i = 0; i < 200 && left.some((p) => existsSync(p)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      readdirSync(pkg).filter((n) => n.endsWith('.nommer-part')),
      [],
      'the dead worker’s temps are swept',
    );
    await f.client.cancelJob(job.id);
  } finally {
    held?.socket?.destroy();
    server.closeAllConnections();
    server.close();
    await f.stop();
  }
});
