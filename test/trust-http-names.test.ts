// Issue 23 item 12: an http input whose last path segment is a long non-ASCII name (80 CJK
// characters: 240 UTF-8 bytes, a valid name on the server) is downloaded by a worker: the local
// name is bounded in bytes, not UTF-16 units, and keeps its extension. Before, every attempt failed
// ENAMETOOLONG and the job failed. Through `nommer submit` against feederd with a local worker.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { startFeederd } from './helpers/feederd.js';
import { nommer } from './helpers/cli.js';
import { boundName, safeFileName } from '../src/adapters/http-download.js';

const tmp = tempDir('nommer-trust-httpname-');
after(() => tmp.cleanup());

const NAME = `${'映'.repeat(80)}.mkv`;

test('the local name of a download is bounded in UTF-8 bytes and keeps its extension', () => {
  const local = safeFileName(`/media/${encodeURIComponent(NAME)}`);
  assert.ok(Buffer.byteLength(local) <= 150, `${Buffer.byteLength(local)} bytes`);
  assert.equal(local, `${'映'.repeat(48)}.mkv`);
  // Cut between characters, never inside one (a 4-byte emoji is kept whole or dropped).
  assert.equal(boundName(`${'a'.repeat(5)}😀😀.webm`, 13), 'aaaaa.webm');
  assert.equal(boundName(`${'a'.repeat(5)}😀😀.webm`, 14), 'aaaaa😀.webm');
  assert.equal(boundName('short.mkv', 150), 'short.mkv');
});

test('nommer submit of an http input named by 80 CJK characters succeeds', async () => {
  const d = tmp.path;
  const clip = makeClip(join(d, 'clip.mkv'), { seconds: 1, width: 160, height: 120 });
  const bytes = readFileSync(clip);
  const server = createServer((req, res) => {
    if (decodeURIComponent(req.url ?? '') !== `/${NAME}`) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'video/x-matroska', 'content-length': bytes.length }).end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/${encodeURIComponent(NAME)}`;
  const f = await startFeederd(d, { workers: 1 });
  try {
    const out = join(d, 'cjk.webm');
    const r = await nommer(['submit', url, '-o', out, '--no-quality'], { env: f.env, cwd: d });
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.ok(statSync(out).size > 0);
    assert.ok(Number(probe(out).format.duration) > 0.5);
  } finally {
    await f.stop();
    server.close();
  }
});
