// The moto zygote (test/helpers/moto-zygote.py) that `npm test` starts through
// scripts/test-run.sh: each server it forks is as private as a moto_server of its own (state,
// settings), lives exactly as long as its client's connection, and none outlives the test run;
// without a zygote, test files start moto_server themselves (each moto_server costs ~2 CPU-s, so
// that path is proven once, through test-run.sh's fallback).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { tempDir } from './helpers/media.js';
import { startMoto, useFakeAwsCredentials } from './helpers/moto.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MOTO_HELPER = join(ROOT, 'dist', 'test', 'helpers', 'moto.js');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function s3(endpoint: string): S3Client {
  return new S3Client({ endpoint, forcePathStyle: true, maxAttempts: 1, region: 'us-east-1' });
}

async function bucketNames(endpoint: string): Promise<string[]> {
  const out = await s3(endpoint).send(new ListBucketsCommand({}));
  return (out.Buckets ?? []).map((b) => b.Name ?? '');
}

/** `moto_server`'s script and its Python, as scripts/moto-python.sh finds them. */
function motoPython(): { script: string; python: string } {
  const found = spawnSync('bash', [join(ROOT, 'scripts', 'moto-python.sh')], { encoding: 'utf8' });
  assert.equal(found.status, 0, `scripts/moto-python.sh: ${found.stderr}`);
  const [script, python] = found.stdout.trim().split('\n');
  return { script: script!, python: python! };
}

/** True once nothing accepts connections on 127.0.0.1:port. */
async function refuses(port: number): Promise<boolean> {
  const sock = createConnection(port, '127.0.0.1');
  try {
    await once(sock, 'connect');
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  } finally {
    sock.destroy();
  }
}

/** Waits until `gone()` holds; the deadline is only for a server that never goes. */
async function waitFor(what: string, gone: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await gone())) {
    assert.ok(Date.now() < deadline, `${what} still there after 30 s`);
    await sleep(50);
  }
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A server asked of the zygote by hand: its connection, pid and port. */
async function askZygote(
  socketPath: string,
  env: Record<string, string> = {},
): Promise<{ conn: Socket; pid: number; port: number }> {
  const conn = createConnection(socketPath);
  conn.setEncoding('utf8');
  conn.write(`${JSON.stringify({ env })}\n`);
  // Its first line is the reply; the connection stays open (reading it by async iteration would
  // close it at the end).
  const line = await new Promise<string>((resolve, reject) => {
    let text = '';
    conn.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) resolve(text);
    });
    conn.once('close', () => reject(new Error(`the zygote closed the connection: ${text}`)));
  });
  const { pid, port } = JSON.parse(line) as { pid: number; port: number };
  return { conn, pid, port };
}

describe('moto zygote', () => {
  let zygote: ChildProcess | undefined;
  let socketPath: string;
  const dir = tempDir('nommer-zygote-');

  before(async () => {
    // The run's zygote when there is one; else one of this file's own.
    if (process.env.NOMMER_MOTO_ZYGOTE) {
      socketPath = process.env.NOMMER_MOTO_ZYGOTE;
      return;
    }
    socketPath = join(dir.path, 'moto.sock');
    zygote = spawn(motoPython().python, [join(ROOT, 'test', 'helpers', 'moto-zygote.py'), socketPath], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    zygote.stdout!.setEncoding('utf8');
    const [line] = (await Promise.race([once(zygote.stdout!, 'data'), once(zygote, 'exit')])) as [string];
    assert.equal(String(line).trim(), 'ready', 'the zygote did not start');
    process.env.NOMMER_MOTO_ZYGOTE = socketPath;
  });
  after(async () => {
    if (zygote && zygote.exitCode === null) {
      // EOF on its stdin is how the test command stops it.
      zygote.stdin!.end();
      await once(zygote, 'exit');
    }
    dir.cleanup();
  });

  it('gives each server its own state', async () => {
    useFakeAwsCredentials();
    const a = await startMoto();
    const b = await startMoto();
    try {
      assert.notEqual(a.port, b.port);
      await s3(a.endpoint).send(new CreateBucketCommand({ Bucket: 'only-in-a' }));
      assert.deepEqual(await bucketNames(a.endpoint), ['only-in-a']);
      assert.deepEqual(await bucketNames(b.endpoint), []);
      await a.reset();
      assert.deepEqual(await bucketNames(a.endpoint), []);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('applies INITIAL_NO_AUTH_ACTION_COUNT to the server it is given to, not to the others', async () => {
    // Asked by hand, so that both surely come from the zygote (startMoto may spawn moto_server).
    const checked = await askZygote(socketPath, { INITIAL_NO_AUTH_ACTION_COUNT: '1' });
    const open = await askZygote(socketPath);
    try {
      const checkedEndpoint = `http://127.0.0.1:${checked.port}`;
      const openEndpoint = `http://127.0.0.1:${open.port}`;
      // The first request is let through unchecked; from the second on, the fake key is unknown to IAM.
      assert.deepEqual(await bucketNames(checkedEndpoint), []);
      await assert.rejects(bucketNames(checkedEndpoint), (err: Error) => err.name === 'InvalidAccessKeyId');
      assert.deepEqual(await bucketNames(openEndpoint), []);
      assert.deepEqual(await bucketNames(openEndpoint), []);
    } finally {
      checked.conn.destroy();
      open.conn.destroy();
    }
  });

  it('ends a server when its connection closes, and closes the connection when the server dies', async () => {
    const first = await askZygote(socketPath);
    assert.equal(await refuses(first.port), false);
    first.conn.destroy();
    await waitFor(`the server on port ${first.port}`, () => refuses(first.port));

    const second = await askZygote(socketPath);
    const closed = once(second.conn, 'close');
    process.kill(second.pid, 'SIGKILL');
    await closed;
    await waitFor(`the server on port ${second.port}`, () => refuses(second.port));
  });

  it("ends a test process's servers when it is killed (no exit hook runs)", async () => {
    const script = `import { startMoto } from ${JSON.stringify(MOTO_HELPER)};
      const moto = await startMoto();
      console.log(moto.port);
      setInterval(() => {}, 60_000);`;
    const client = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    client.stdout.setEncoding('utf8');
    const [line] = (await Promise.race([once(client.stdout, 'data'), once(client, 'exit')])) as [string];
    const port = Number(String(line).trim());
    assert.ok(port > 0, `the client printed no port: ${line}`);
    assert.equal(await refuses(port), false);
    client.kill('SIGKILL');
    await waitFor(`the server on port ${port}`, () => refuses(port));
  });
});

describe('scripts/test-run.sh', () => {
  const dir = tempDir('nommer-test-run-');
  after(() => dir.cleanup());

  /** Runs test-run.sh on one test file, without the zygote of the run this test is in. */
  function testRun(testFile: string, env: NodeJS.ProcessEnv = {}) {
    // NODE_TEST_CONTEXT would make the inner node --test skip its files (it marks a test file's process).
    const { NOMMER_MOTO_ZYGOTE: _, NOMMER_MOTO_SERVER: __, NODE_TEST_CONTEXT: ___, ...outer } = process.env;
    return new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const run = spawn('bash', [join(ROOT, 'scripts', 'test-run.sh'), '--test-reporter=dot', testFile], {
        env: { ...outer, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      run.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      run.once('exit', (status) => resolve({ status, stderr }));
    });
  }

  it("keeps node's exit status and leaves no zygote or server running", async () => {
    const pids = join(dir.path, 'pids.json');
    const testFile = join(dir.path, 'failing.test.mjs');
    // A test that takes a server from the run's zygote, notes the zygote's and the server's pids
    // (the zygote is the server's parent), then fails. Its connection is unref'd: an open one would
    // keep the file's process alive.
    writeFileSync(
      testFile,
      `import { test } from 'node:test';
      import { readFileSync, writeFileSync } from 'node:fs';
      import { createConnection } from 'node:net';
      test('fails', async () => {
        const conn = createConnection(process.env.NOMMER_MOTO_ZYGOTE);
        conn.setEncoding('utf8');
        conn.write('{"env": {}}\\n');
        const [line] = await new Promise((resolve) => conn.once('data', (d) => resolve([d])));
        const { pid } = JSON.parse(line);
        conn.unref();
        const zygote = Number(readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ')[1]);
        writeFileSync(${JSON.stringify(pids)}, JSON.stringify({ zygote, server: pid }));
        throw new Error('deliberate failure');
      });`,
    );
    const run = await testRun(testFile);
    assert.equal(run.status, 1, run.stderr);
    const { zygote, server } = JSON.parse(readFileSync(pids, 'utf8')) as { zygote: number; server: number };
    assert.ok(processGone(zygote), `the zygote (pid ${zygote}) outlived test-run.sh`);
    await waitFor(`the server (pid ${server})`, () => processGone(server));
  });

  it('falls back to per-file moto_server, saying so once, when the zygote cannot start', async () => {
    const { script, python } = motoPython();
    // A Python that refuses to run the zygote, and a moto_server that names it in its shebang.
    const bin = join(dir.path, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(
      join(bin, 'python'),
      `#!/bin/sh\ncase "$1" in *moto-zygote.py) echo 'no zygote here' >&2; exit 1 ;; esac\nexec ${JSON.stringify(python)} "$@"\n`,
    );
    const real = readFileSync(script, 'utf8');
    writeFileSync(join(bin, 'moto_server'), `#!${join(bin, 'python')}\n${real.slice(real.indexOf('\n') + 1)}`);
    chmodSync(join(bin, 'python'), 0o755);
    chmodSync(join(bin, 'moto_server'), 0o755);
    const testFile = join(dir.path, 'passing.test.mjs');
    writeFileSync(
      testFile,
      `import { test } from 'node:test';
      import assert from 'node:assert/strict';
      import { startMoto } from ${JSON.stringify(MOTO_HELPER)};
      test('a moto_server of its own', async () => {
        assert.equal(process.env.NOMMER_MOTO_ZYGOTE, undefined);
        const moto = await startMoto();
        const res = await fetch(moto.endpoint + '/moto-api/');
        assert.equal(res.status, 200);
        await moto.stop();
      });`,
    );
    const run = await testRun(testFile, { PATH: `${bin}:${process.env.PATH}` });
    assert.equal(run.status, 0, run.stderr);
    const said = run.stderr.split('\n').filter((l) => l.startsWith('test-run: '));
    assert.equal(said.length, 1, run.stderr);
    assert.match(said[0]!, /zygote .* did not start: each test file starts its own moto_server/);
  });
});
