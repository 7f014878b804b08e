// `--force` on S3 is all or none (issue 23, item 7), at the Storage port's commit primitive that
// packages and multi-output jobs commit through (commitAllUndoable of S3Storage outputs), on moto:
// a commit that fails or is canceled midway puts every replaced object back as it was, and a
// taken-back set (the task's end could not be reported) does too; one that stands leaves no
// backup behind.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { s3Client } from '../src/adapters/aws/clients.js';
import { S3Storage } from '../src/adapters/aws/s3-storage.js';
import { commitAll, commitAllUndoable, type PreparedOutput } from '../src/ports/storage.js';
import { tempDir } from './helpers/media.js';
import { startMoto, type Moto } from './helpers/moto.js';

const BUCKET = 'nommer-force-test';
const NAMES = ['init-stream0.m4s', 'chunk-stream0-00001.m4s', 'manifest.mpd'];
let moto: Moto;
let client: S3Client;
let storage: S3Storage;
const dir = tempDir('nommer-force-');

before(async () => {
  moto = await startMoto();
  client = s3Client({ endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 1 });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  storage = new S3Storage({ client });
});
after(async () => {
  await moto?.stop();
  dir.cleanup();
});

/** A published title: every file says OLD. */
async function publish(prefix: string): Promise<void> {
  for (const n of NAMES) {
    const f = join(dir.path, `old-${prefix}-${n}`);
    writeFileSync(f, `OLD ${n}`);
    await storage.store(f, `s3://${BUCKET}/${prefix}/${n}`, { overwrite: true });
  }
}

/** The re-package: NEW files prepared with overwrite; `missing` names one whose file was never written. */
async function prepare(prefix: string, missing?: string): Promise<PreparedOutput[]> {
  const scratch = join(dir.path, `scratch-${prefix}`);
  mkdirSync(scratch, { recursive: true });
  const out: PreparedOutput[] = [];
  for (const n of NAMES) {
    const o = await storage.prepareOutput(`s3://${BUCKET}/${prefix}/${n}`, { overwrite: true, scratchDir: scratch });
    if (n !== missing) writeFileSync(o.path, `NEW ${n}`);
    out.push(o);
  }
  return out;
}

async function contents(prefix: string): Promise<Record<string, string>> {
  const r: Record<string, string> = {};
  const fetched = join(dir.path, `fetched-${prefix}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(fetched);
  for (const n of NAMES) r[n] = readFileSync(await storage.fetch(`s3://${BUCKET}/${prefix}/${n}`, fetched), 'utf8');
  return r;
}

async function keys(prefix: string): Promise<string[]> {
  const r = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/` }));
  return (r.Contents ?? []).map((o) => o.Key!.slice(prefix.length + 1)).sort();
}

const old = Object.fromEntries(NAMES.map((n) => [n, `OLD ${n}`]));

test('a --force commit that fails at the manifest puts back the segments it had replaced', async () => {
  await publish('t1');
  await assert.rejects(commitAllUndoable(await prepare('t1', 'manifest.mpd')));
  assert.deepEqual(await contents('t1'), old);
  assert.deepEqual(await keys('t1'), [...NAMES].sort(), 'no backup left beside the title');
});

test('a --force commit canceled midway puts back what it had replaced', async () => {
  await publish('t2');
  const outputs = await prepare('t2');
  const ac = new AbortController();
  // Canceled once the first file is in place: the second commit sees the abort.
  const first = outputs[0]!;
  const commit = first.commit.bind(first);
  Object.assign(first, {
    commit: async (o?: { signal?: AbortSignal }) => {
      const c = await commit(o);
      ac.abort();
      return c;
    },
  });
  await assert.rejects(commitAllUndoable(outputs, { signal: ac.signal }));
  assert.deepEqual(await contents('t2'), old);
  assert.deepEqual(await keys('t2'), [...NAMES].sort());
});

test('a committed set taken back (its end unreported) restores the old title; one that stands keeps no backup', async () => {
  await publish('t3');
  const set = await commitAllUndoable(await prepare('t3'));
  assert.deepEqual(await contents('t3'), Object.fromEntries(NAMES.map((n) => [n, `NEW ${n}`])));
  await set.undo();
  assert.deepEqual(await contents('t3'), old);
  assert.deepEqual(await keys('t3'), [...NAMES].sort());

  await commitAll(await prepare('t3'));
  assert.deepEqual(await contents('t3'), Object.fromEntries(NAMES.map((n) => [n, `NEW ${n}`])));
  assert.deepEqual(await keys('t3'), [...NAMES].sort(), 'the backups are gone once the set stands');
});
