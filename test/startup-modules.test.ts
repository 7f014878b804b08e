// What a command loads is most of what every nommer process pays before it does anything (issue
// 25: `encode` of one file within 3% of raw ffmpeg; issue 24: the suite starts hundreds of them).
// Each command here runs for real under a module trace (helpers/module-trace.ts) and must not load
// the SDKs and servers its path does not use.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeClip, tempDir } from './helpers/media.js';
import { nommer } from './helpers/cli.js';
import { MODULE_TRACE, packagesIn, tracedModules } from './helpers/module-trace.js';
import { CHEAP_WEBM } from './helpers/srv-cheap.js';
import { startFeederd } from './helpers/feederd.js';

const d = tempDir();
after(() => d.cleanup());
// A config file beside the commands, as a project has: reading it must not cost a JSON code framer.
writeFileSync(join(d.path, 'nommer.config.json'), '{"quality": {"measure": true}}\n');

/** A traced run of `nommer args`: its result and the packages each of its processes loaded. */
async function traced(name: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const trace = join(d.path, `trace-${name}`);
  mkdirSync(trace);
  const r = await nommer(args, {
    cwd: d.path,
    env: { NOMMER_HOME: join(d.path, `home-${name}`), ...env, ...traceEnv(trace) },
  });
  const processes = tracedModules(trace);
  assert.equal(processes.length, 1, 'one traced process');
  return { r, modules: processes[0]!, packages: packagesIn(processes[0]!) };
}

function traceEnv(trace: string): NodeJS.ProcessEnv {
  return { NOMMER_MODULE_TRACE: trace, NODE_OPTIONS: `--import ${MODULE_TRACE}` };
}

/** Packages only a server, a fleet, a live view or a job store needs, and a bad JSON file's code frame. */
const HEAVY = /^(@aws-sdk\/|@smithy\/|fastify$|ajv$|ink$|react$|better-sqlite3$|undici$|pino$|parse-json$|@babel\/)/;

test('a local `nommer encode --json` loads no AWS SDK, server, job store, live view, downloader or JSON code frame', async () => {
  const clip = makeClip(join(d.path, 'clip.mp4'), { seconds: 1, width: 160, height: 120 });
  const out = join(d.path, 'clip.webm');
  const { r, modules, packages } = await traced('encode', ['encode', clip, '-o', out, '--json', ...setArgs()]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(
    modules.some((m) => m.endsWith('/src/encode.js')),
    'the trace saw the encoder load',
  );
  assert.deepEqual(
    packages.filter((p) => HEAVY.test(p)),
    [],
  );
  for (const lazy of ['/adapters/http-download.js', '/quality/run-search.js', '/ffmpeg/webm-hdr.js'])
    assert.ok(!modules.some((m) => m.endsWith(lazy)), `${lazy} is for URLs, targets and HDR only`);
});

test('`nommer --version` loads no command; `status --json` without feederd loads no HTTP server', async () => {
  const version = await traced('version', ['--version']);
  assert.equal(version.r.code, 0, version.r.stderr);
  assert.ok(
    version.modules.some((m) => m.endsWith('/src/cli.js')),
    'the trace saw the CLI load',
  );
  assert.deepEqual(
    version.modules.filter((m) => m.includes('/src/commands/') && !m.endsWith('/commands/index.js')),
    [],
  );
  const status = await traced('status', ['status', '--json']);
  assert.equal(status.r.code, 0, status.r.stderr);
  assert.equal((JSON.parse(status.r.stdout) as { summary: { offline?: boolean } }).summary.offline, true);
  assert.ok(
    status.modules.some((m) => m.endsWith('/src/commands/status.js')),
    'the trace saw the command load',
  );
  assert.deepEqual(
    status.packages.filter((p) => /^(fastify|ajv|ink|react|@aws-sdk\/)/.test(p)),
    [],
  );
});

test('feederd loads no JSON-schema compiler: its routes check with zod', async () => {
  const trace = join(d.path, 'trace-feederd');
  mkdirSync(trace);
  mkdirSync(join(d.path, 'feederd'));
  const f = await startFeederd(join(d.path, 'feederd'), { env: traceEnv(trace) });
  try {
    // A request the API answers after the routes are built (a token route, as most are).
    assert.ok(Array.isArray((await f.client.listJobs()).jobs));
  } finally {
    await f.stop();
  }
  const processes = tracedModules(trace).map(packagesIn);
  const feederd = processes.find((p) => p.includes('fastify'));
  assert.ok(feederd, 'feederd was traced');
  assert.deepEqual(
    feederd.filter((p) => /^(ajv|@fastify\/ajv-compiler|@fastify\/fast-json-stringify-compiler)$/.test(p)),
    [],
  );
});

function setArgs(): string[] {
  return CHEAP_WEBM.flatMap((s) => ['--set', s]);
}
