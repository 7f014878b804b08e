// Hostile input, through the real CLI and a real feederd: file names built to break shells and
// argument parsers, broken media, things that are not files, URLs aimed at this machine or at a
// cloud metadata service, `file://` tricks, malformed and oversized API bodies, and --set values
// that try to smuggle in ffmpeg options. Each is encoded correctly or refused with a clear code;
// nothing runs a shell; nothing is written outside the destination.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  ftruncateSync,
  statSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { NOMMER_BIN, nommerSync } from './helpers/cli.js';
import { isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { dribbleServer, partialFiles, storeState, until } from './helpers/faults.js';
import { nommerInProcess } from './helpers/srv-inproc.js';
import { deniedAddress, downloadHttp } from '../src/adapters/http-download.js';
import type { CreateJobBody, PublicJob } from '../src/api/contract.js';

const d = tempDir('nommer-hostile-');
let f: RunningFeederd;
let clip: string;
before(async () => {
  clip = makeClip(join(d.path, 'clip.mp4'), { seconds: 1, width: 160, height: 120 });
  f = await startFeederd(d.path, {
    workers: 2,
    config: { jobs: { leaseSeconds: 3, maxAttempts: 2 }, api: { bodyLimitBytes: 64 * 1024 } },
  });
});
after(async () => {
  await f?.stop().catch(() => undefined);
  await f?.kill().catch(() => undefined);
  d.cleanup();
});

async function submit(body: CreateJobBody): Promise<PublicJob> {
  return (await f.client.createJob(body)).job;
}
async function runJob(body: CreateJobBody): Promise<PublicJob> {
  const j = await submit(body);
  return waitForJob(f.client, j.id, isFinal, 90_000);
}
function noShellRan(where: string) {
  assert.equal(existsSync(join(where, 'PWNED')), false, 'no shell ran the name');
  assert.equal(existsSync(join(d.path, 'PWNED')), false, 'no shell ran the name');
}

const NAMES = [
  'with space.mp4',
  'it\'s "quoted".mp4',
  'new\nline.mp4',
  '$(touch PWNED).mp4',
  '`touch PWNED`;x.mp4',
  '-i leading dash.mp4',
  '--help.mp4',
  'http:not-a-url.mp4',
  'concat:a|b.mp4',
  'ünïcödé 名前.mp4',
];

test('file names with spaces, quotes, newlines, $(...), backticks, leading dashes, protocol look-alikes and Unicode encode correctly through feederd', async () => {
  const dir = join(d.path, 'names');
  mkdirSync(dir);
  const src = readFileSync(clip);
  for (const n of NAMES) writeFileSync(join(dir, n), src);
  const jobs = await Promise.all(NAMES.map((n) => submit({ input: join(dir, n), outputs: [{ preset: 'opus' }] })));
  for (const [i, j] of jobs.entries()) {
    const done = await waitForJob(f.client, j.id, isFinal, 90_000);
    assert.equal(done.state, 'succeeded', `${JSON.stringify(NAMES[i])}: ${JSON.stringify(done.error)}`);
    const out = join(dir, NAMES[i]!.replace(/\.mp4$/, '.opus'));
    assert.equal(done.outputs[0]!.uri, out);
    assert.equal(probe(out).streams[0]!.codec_name, 'opus');
  }
  // Exactly the inputs and one output each: nothing else written beside them.
  assert.deepEqual(readdirSync(dir).sort(), [...NAMES, ...NAMES.map((n) => n.replace(/\.mp4$/, '.opus'))].sort());
  noShellRan(dir);
});

test('nommer encode takes the same names from argv (a leading dash after --), writing only the destination', async () => {
  const dir = join(d.path, 'argv');
  mkdirSync(dir);
  for (const [i, n] of ['$(touch PWNED).mp4', '-y.mp4', 'a "b" \'c\'.mp4'].entries()) {
    writeFileSync(join(dir, n), readFileSync(clip));
    // The first name through the real binary (the OS hands it over as one argument, no shell in
    // between); the others through the CLI's main() in this process, which parses the same argv
    // array without a `nommer` process start (about a second of CPU).
    const args = ['encode', '-p', 'opus', '--', n];
    const opts = { cwd: dir, env: { NOMMER_HOME: join(d.path, 'home-argv') } };
    const r = i === 0 ? nommerSync(args, opts) : await nommerInProcess(args, opts);
    assert.equal(r.code, 0, `${n}: ${r.stderr}`);
    assert.equal(probe(join(dir, n.replace(/\.mp4$/, '.opus'))).streams[0]!.codec_name, 'opus');
  }
  assert.equal(readdirSync(dir).length, 6);
  noShellRan(dir);
});

test('a non-UTF-8 file name cannot be named through argv or JSON: a clear INPUT_NOT_FOUND, nothing written', async () => {
  const dir = join(d.path, 'bytes');
  mkdirSync(dir);
  const raw = Buffer.concat([Buffer.from(`${dir}/c`), Buffer.from([0xff, 0xfe]), Buffer.from('.mp4')]);
  writeFileSync(raw, readFileSync(clip));
  // Node decodes argv as UTF-8, so the bytes arrive as U+FFFD: the path cannot be found.
  const r = spawnSync(
    '/bin/sh',
    ['-c', 'exec "$0" "$1" encode -p opus "$(printf \'c\\377\\376.mp4\')"', process.execPath, NOMMER_BIN],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, NOMMER_HOME: join(d.path, 'home-argv') } },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /input not found: .*\[INPUT_NOT_FOUND\]/);
  const j = await runJob({
    input: `${dir}/c\udcff\udcfe.mp4`,
    outputs: [{ preset: 'opus', uri: join(dir, 'o.opus') }],
  });
  assert.equal(j.state, 'failed');
  assert.equal(j.error!.code, 'INPUT_NOT_FOUND');
  assert.equal(readdirSync(dir).length, 1, 'only the input is there');
});

test('broken and strange inputs fail with a clear code and leave no output: truncated, corrupt header, zero bytes, huge sparse file, directory, FIFO, playlist', async () => {
  const dir = join(d.path, 'bad');
  mkdirSync(dir);
  const full = readFileSync(clip);
  writeFileSync(join(dir, 'truncated.mp4'), full.subarray(0, Math.floor(full.length / 3)));
  const corrupt = Buffer.from(full);
  for (let i = 0; i < 64; i++) corrupt[i] = (i * 37) & 0xff; // the ftyp/moov header is gone
  writeFileSync(join(dir, 'corrupt.mp4'), corrupt);
  writeFileSync(join(dir, 'empty.mp4'), '');
  const fd = openSync(join(dir, 'huge.mp4'), 'w');
  ftruncateSync(fd, 2 ** 40); // 1 TiB declared, no bytes stored
  closeSync(fd);
  mkdirSync(join(dir, 'folder.mp4'));
  execFileSync('mkfifo', [join(dir, 'pipe.mp4')]);
  // An HLS playlist would make ffmpeg open whatever files it names.
  writeFileSync(join(dir, 'list.m3u8'), `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n${clip}\n#EXT-X-ENDLIST\n`);
  const cases: Array<[string, RegExp]> = [
    ['truncated.mp4', /^INPUT_UNDECODABLE$/],
    ['corrupt.mp4', /^INPUT_UNDECODABLE$/],
    ['empty.mp4', /^INPUT_UNDECODABLE$/],
    ['huge.mp4', /^INPUT_UNDECODABLE$/],
    ['folder.mp4', /^INPUT_UNREADABLE$/],
    ['pipe.mp4', /^INPUT_UNREADABLE$/],
    ['list.m3u8', /^INPUT_UNREADABLE$/],
  ];
  const t0 = Date.now();
  const jobs = await Promise.all(
    cases.map(([n]) => submit({ input: join(dir, n), outputs: [{ preset: 'webm', uri: join(dir, `${n}.webm`) }] })),
  );
  for (const [i, j] of jobs.entries()) {
    const done = await waitForJob(f.client, j.id, isFinal, 60_000);
    assert.equal(done.state, 'failed', cases[i]![0]);
    assert.match(done.error!.code, cases[i]![1], `${cases[i]![0]}: ${JSON.stringify(done.error)}`);
    assert.equal(done.attempt, 1, 'a permanent error is not retried');
  }
  assert.ok(Date.now() - t0 < 60_000, 'nothing hangs (FIFO) or reads 1 TiB');
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith('.webm')),
    [],
    'no output',
  );
  assert.deepEqual(partialFiles(dir), []);
  assert.ok(statSync(join(dir, 'pipe.mp4')).isFIFO());
});

test('a remote input whose server declares a huge size and hangs up: STORAGE_FAILED, retried, no partial download', async () => {
  const srv = await dribbleServer({ 'liar.mp4': Buffer.alloc(10_000, 1) }, { chunk: 10_000, declaredLength: 10 ** 12 });
  try {
    const j = await runJob({
      input: srv.url('liar.mp4'),
      outputs: [{ preset: 'opus', uri: join(d.path, 'liar.opus') }],
    });
    assert.equal(j.state, 'failed');
    assert.equal(j.error!.code, 'STORAGE_FAILED', JSON.stringify(j.error));
    assert.equal(j.attempt, 2, 'a network failure is retried');
    assert.equal(existsSync(join(d.path, 'liar.opus')), false);
    assert.deepEqual(partialFiles(f.home), []);
  } finally {
    await srv.close();
  }
});

test('URL policy: cloud-metadata and unspecified addresses are refused (directly, IPv4-mapped, by redirect); loopback is allowed on the local backend', async () => {
  // Unit level: the address rules.
  for (const a of [
    '169.254.169.254',
    '169.254.170.2',
    '0.0.0.0',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
  ])
    assert.ok(deniedAddress(a), a);
  for (const a of ['127.0.0.1', '::1', '10.0.0.1', '93.184.216.34']) assert.equal(deniedAddress(a), null, a);
  assert.ok(deniedAddress('127.0.0.1', { denyLoopback: true }));
  assert.ok(deniedAddress('::ffff:127.0.0.1', { denyLoopback: true }));
  // A loopback server that redirects to the metadata service.
  const redirector: Server = createServer((_req, res) => {
    res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' });
    res.end();
  });
  await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
  const port = (redirector.address() as { port: number }).port;
  try {
    const scratch = join(d.path, 'dl');
    mkdirSync(scratch);
    await assert.rejects(
      downloadHttp(`http://127.0.0.1:${port}/x.mp4`, scratch, { denyLoopback: true }),
      (e: Error & { code?: string }) => e.code === 'INPUT_UNREADABLE' && /loopback/.test(e.message),
    );
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:169.254.169.254]/x',
      `http://0.0.0.0:${f.client.endpoint.url.split(':').pop()}/v1/summary`,
      `http://127.0.0.1:${port}/redirect.mp4`,
    ]) {
      const j = await runJob({ input: url, outputs: [{ preset: 'opus', uri: join(d.path, 'meta.opus') }] });
      assert.equal(j.state, 'failed', url);
      assert.equal(j.error!.code, 'INPUT_UNREADABLE', `${url}: ${JSON.stringify(j.error)}`);
      assert.match(j.error!.message, /refusing to download from/);
      assert.equal(j.attempt, 1, 'not retried');
    }
    // Loopback on the local backend: allowed (the worker runs on the submitter's machine); feederd's
    // own API (its health route, the one that needs no token) is not media.
    const own = await runJob({
      input: `${f.client.endpoint.url}/v1/health`,
      outputs: [{ preset: 'opus', uri: join(d.path, 'api.opus') }],
    });
    assert.equal(own.state, 'failed');
    assert.equal(own.error!.code, 'INPUT_UNDECODABLE');
    assert.deepEqual(readdirSync(scratch), []);
    assert.equal(existsSync(join(d.path, 'meta.opus')), false);
  } finally {
    redirector.close();
  }
});

test('file:// tricks and unknown schemes: a remote-host file URL and ftp:// are refused with USAGE; outputs to http(s)/ftp are refused before a job exists', async () => {
  for (const input of ['file://evil.example/etc/passwd', 'file:///tmp/%2Fetc/passwd']) {
    const r = await f.client
      .createJob({
        input,
        outputs: [{ preset: 'opus', uri: join(d.path, 'f.opus') }],
      })
      .then(
        (x) => waitForJob(f.client, x.job.id, isFinal, 60_000),
        (e: Error & { code?: string }) => ({ state: 'refused', error: { code: e.code, message: e.message } }),
      );
    assert.equal(r.error?.code, 'USAGE', `${input}: ${JSON.stringify(r)}`);
    assert.match(r.error!.message, /not a local file URL/);
  }
  const before = storeState(f.home).jobs;
  // An unknown input scheme is refused at submission: no job exists for it.
  await assert.rejects(
    submit({ input: 'ftp://127.0.0.1/x.mp4', outputs: [{ preset: 'opus', uri: join(d.path, 'ftp.opus') }] }),
    (e: Error & { code?: string }) => e.code === 'USAGE' && /input scheme not supported: ftp/.test(e.message),
  );
  for (const uri of ['http://127.0.0.1:9/out.webm', 'https://example.com/out.webm', 'ftp://host/out.webm']) {
    await assert.rejects(
      submit({ input: clip, outputs: [{ preset: 'webm', uri }] }),
      (e: Error & { code?: string }) => e.code === 'USAGE' && /cannot write an output to/.test(e.message),
      uri,
    );
  }
  assert.equal(storeState(f.home).jobs, before, 'no job was created');
  assert.equal(existsSync(join(d.path, 'http:')), false, 'nothing written under a relative "http:" directory');
  assert.equal(existsSync(join(d.path, 'https:')), false);
});

test('malformed and oversized API bodies get a JSON error with a code; feederd stays healthy', async () => {
  const url = `${f.client.endpoint.url}/v1/jobs`;
  const auth = { authorization: `Bearer ${f.client.endpoint.token}` };
  const post = async (
    body: string | Buffer,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { ...auth, ...headers },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as { error?: { code: string; message: string } } };
  };
  const big = await post(JSON.stringify({ input: clip, set: ['x'.repeat(100 * 1024)] }));
  assert.equal(big.status, 413);
  assert.equal(big.body.error!.code, 'BODY_TOO_LARGE');
  // A chunked body with no length is cut off too: a 413, or the connection closed mid-upload.
  const chunked = await fetch(url, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: new Blob([Buffer.alloc(200 * 1024, 0x20)]).stream(),
    duplex: 'half',
  } as RequestInit).then(
    async (r) => {
      await r.arrayBuffer();
      return r.status;
    },
    (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
  );
  assert.ok(
    chunked === 413 || /ECONNRESET|EPIPE|UND_ERR_SOCKET|other side closed/.test(String(chunked)),
    `chunked: ${chunked}`,
  );
  const cases: Array<[string, string | Buffer, Record<string, string>?]> = [
    ['bad JSON', '{"input": '],
    ['not an object', '[1,2,3]'],
    ['a string', '"hello"'],
    ['prototype pollution', `{"input": ${JSON.stringify(clip)}, "__proto__": {"admin": true}}`],
    ['constructor pollution', `{"input": ${JSON.stringify(clip)}, "constructor": {"prototype": {"admin": true}}}`],
    ['unknown key', `{"input": ${JSON.stringify(clip)}, "ffmpegArgs": ["-f", "lavfi"]}`],
    [
      'too many outputs',
      JSON.stringify({ input: clip, outputs: Array.from({ length: 17 }, () => ({ preset: 'opus' })) }),
    ],
    ['an input too long', JSON.stringify({ input: `/${'a'.repeat(5000)}` })],
    ['a relative input', JSON.stringify({ input: '../../etc/passwd' })],
    ['a wrong type', JSON.stringify({ input: clip, priority: '1; DROP TABLE jobs' })],
    ['a webhook with a file: URL', JSON.stringify({ input: clip, notifyUrl: 'file:///etc/passwd' })],
    ['not JSON at all', 'input=/etc/passwd', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['binary', Buffer.from([0xff, 0xfe, 0x00, 0x01]), { 'content-type': 'application/json' }],
  ];
  for (const [name, body, headers] of cases) {
    const r = await post(body, headers);
    assert.ok(r.status >= 400 && r.status < 500, `${name}: HTTP ${r.status}`);
    assert.match(r.body.error?.code ?? '', /^[A-Z_]+$/, `${name}: ${JSON.stringify(r.body)}`);
  }
  assert.equal(({} as Record<string, unknown>).admin, undefined);
  for (const path of [
    '/v1/jobs?limit=abc',
    '/v1/jobs?limit=100000',
    '/v1/jobs?state=running;drop',
    '/v1/jobs/..%2F..%2Fetc%2Fpasswd',
    '/v1/nope',
  ]) {
    const res = await fetch(f.client.endpoint.url + path, { headers: auth });
    assert.ok(res.status === 400 || res.status === 404, `${path}: ${res.status}`);
    assert.match(((await res.json()) as { error: { code: string } }).error.code, /^[A-Z_]+$/);
  }
  const h = await f.client.health();
  assert.equal(h.ok, true);
});

test('--set values that try to inject ffmpeg options are refused before any job or process exists', async () => {
  const before = storeState(f.home).jobs;
  const sets = [
    'video.crf=30 -f lavfi',
    'audio.bitrate=96k -i /etc/passwd',
    'audio.bitrate=$(id)',
    'audio.bitrate=-y',
    'video.crf=30\n-f',
    'video.crf=1e9',
    'video.crf=-1',
    '__proto__.polluted=1',
    'constructor.prototype.polluted=1',
    'video.__proto__=1',
    'video=-f lavfi',
    'extraArgs=-f lavfi',
  ];
  for (const [i, s] of sets.entries()) {
    await assert.rejects(
      submit({ input: clip, outputs: [{ preset: 'webm', uri: join(d.path, 'set.webm') }], set: [s] }),
      (e: Error & { code?: string }) => ['OVERRIDE_INVALID', 'USAGE'].includes(e.code ?? ''),
      JSON.stringify(s),
    );
    // The refusal is the CLI's own code (main's exit code): the first through the real binary, which
    // shows that code becomes the process's exit status with one line and no stack trace; the rest
    // in this process, a `nommer` start costing about a second of CPU each.
    const args = ['encode', clip, '-o', join(d.path, 'set-cli.webm'), '--set', s, '--dry-run'];
    const opts = { cwd: d.path, env: { NOMMER_HOME: join(d.path, 'home-argv') } };
    const cli = i === 0 ? nommerSync(args, opts) : await nommerInProcess(args, opts);
    assert.equal(cli.code, 2, `${JSON.stringify(s)}: ${cli.stdout}${cli.stderr}`);
    assert.match(cli.stderr, /^nommer: /, `a clear error: ${cli.stderr}`);
    assert.doesNotMatch(cli.stderr, /\n\s+at /, 'no stack trace');
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(storeState(f.home).jobs, before, 'no job was created');
  assert.equal(existsSync(join(d.path, 'set.webm')), false);
  assert.equal(existsSync(join(d.path, 'set-cli.webm')), false);
});

test('nothing in nommer spawns through a shell', () => {
  const root = join(NOMMER_BIN, '..', '..', 'src');
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) {
        walk(p);
        continue;
      }
      if (!/\.tsx?$/.test(n)) continue;
      const text = readFileSync(p, 'utf8');
      const shellImports = /import\s*\{[^}]*\b(exec|execSync)\b[^}]*\}\s*from\s*['"](node:)?child_process['"]/.test(
        text,
      );
      const shellOption = /shell:\s*(true|['"])/.test(text);
      const shellBinary =
        /\b(spawn|spawnSync|execFile|execFileSync)\(\s*['"](\/bin\/|\/usr\/bin\/)?(ba|z|da)?sh['"]/.test(text);
      if (shellImports || shellOption || shellBinary) offenders.push(p);
    }
  };
  walk(root);
  assert.deepEqual(offenders, []);
});

test('the hostile-input jobs left no lease, no running task and no partial file', async () => {
  await until(
    () => {
      const s = storeState(f.home);
      return s.runningTasks === 0 && s.leased === 0 && s.queued === 0;
    },
    20_000,
    'a quiet store',
  );
  const s = storeState(f.home);
  assert.equal((s.byState.succeeded ?? 0) + (s.byState.failed ?? 0), s.jobs, JSON.stringify(s.byState));
  assert.deepEqual(partialFiles(d.path), []);
});
