// The EC2 user-data script: rendered from templates/user-data.sh with shell-safe values and a
// worker config that carries no secrets; valid bash that shellcheck accepts; and, run for real in
// its test mode (installs and power-off stubbed, the checkout's bin/nommer as the nommer), it
// fetches the release from the bucket with signed curl, writes the worker's config, starts
// `nommer worker --backend aws` against moto's SQS, lets it idle out, and reaches power-off.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { s3Client } from '../src/adapters/aws/clients.js';
import { setupAws } from '../src/adapters/aws/setup.js';
import { parseConfig, type Config } from '../src/config.js';
import { S3Storage } from '../src/adapters/aws/s3-storage.js';
import type { NommerError } from '../src/errors.js';
import { packRelease, pinnedReleaseSha256, pinRelease, releaseKey, releaseUri } from '../src/fleet/release.js';
import { sha256File } from '../src/hash.js';
import {
  loadUserDataTemplate,
  renderUserData,
  renderUserDataFor,
  userDataParams,
  USER_DATA_MAX_BYTES,
} from '../src/fleet/user-data.js';
import { packageRoot, packageVersion } from '../src/paths.js';
import { startMoto, type Moto } from './helpers/moto.js';

const VERSION = packageVersion();
/** A pin for rendering tests that never fetch (the run tests pin what they publish). */
const PIN = 'c0ffee'.repeat(10) + 'c0ffee'.slice(0, 4);

function awsConfig(over: Record<string, unknown> = {}, aws: Record<string, unknown> = {}): Config {
  return parseConfig({
    backend: 'aws',
    api: { token: 'api-token-0123456789abcdef' },
    webhooks: { secret: 'webhook-secret-0123456789' },
    ffmpeg: { path: '/opt/feederd-only/ffmpeg' },
    aws: {
      bucket: 'nommer-ud-test',
      queuePrefix: 'udt',
      region: 'us-east-1',
      ec2: { idleExitSeconds: 45, slotsPerInstance: 2 },
      ...aws,
    },
    ...over,
  });
}

/** The JSON the script writes as the worker's config, read back out of the heredoc. */
function embeddedConfig(script: string): unknown {
  const m = /<<'NOMMER_CONFIG_JSON'\n(.*)\nNOMMER_CONFIG_JSON\n/.exec(script);
  assert.ok(m, 'config heredoc present');
  return JSON.parse(m[1]!);
}

describe('user-data rendering', () => {
  it("fills every placeholder with feederd's version, the release URI and the ec2 settings", () => {
    const script = renderUserDataFor(awsConfig(), VERSION, PIN);
    assert.doesNotMatch(script, /\{\{[A-Z0-9_]+\}\}/);
    assert.match(script, new RegExp(`^NOMMER_VERSION=${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(
      script,
      new RegExp(`^NOMMER_PACKAGE_URI=s3://nommer-ud-test/${releaseKey(VERSION).replace(/\./g, '\\.')}$`, 'm'),
    );
    assert.match(script, new RegExp(`^NOMMER_PACKAGE_SHA256=${PIN}$`, 'm'));
    assert.match(script, /^IDLE_EXIT_SECONDS=45$/m);
    assert.match(script, /^CONCURRENCY=2$/m);
    assert.match(script, /^NOMMER_REGION=us-east-1$/m);
    assert.match(script, /^NOMMER_AWS_ENDPOINT=''$/m);
    assert.match(script, /worker --backend aws --idle-exit "\$IDLE_EXIT_SECONDS"/);
    assert.match(script, /shutdown -h now/);
  });

  it('gives the worker a config it accepts, without the API token, webhook secret or local paths', () => {
    const script = renderUserDataFor(awsConfig(), VERSION, PIN);
    const cfg = embeddedConfig(script);
    const parsed = parseConfig(cfg, 'worker config');
    assert.equal(parsed.backend, 'aws');
    assert.equal(parsed.aws.bucket, 'nommer-ud-test');
    assert.equal(parsed.aws.queuePrefix, 'udt');
    for (const secret of ['api-token-0123456789abcdef', 'webhook-secret-0123456789', '/opt/feederd-only'])
      assert.ok(!script.includes(secret), `${secret} leaked`);
    // No credentials either: the instance profile provides them.
    assert.doesNotMatch(
      script.replace(/\$\{?AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)/g, ''),
      /AWS_ACCESS_KEY_ID=|AKIA|ASIA/,
    );
  });

  it('quotes values and refuses ones that could start a new line of code', () => {
    const params = userDataParams(awsConfig(), VERSION, PIN);
    const quoted = renderUserData(loadUserDataTemplate(), { ...params, endpoint: "http://x/'$(id)" });
    assert.match(quoted, /^NOMMER_AWS_ENDPOINT='http:\/\/x\/'\\''\$\(id\)'$/m);
    assert.throws(
      () => renderUserData(loadUserDataTemplate(), { ...params, region: 'us-east-1\nreboot' }),
      /control character/,
    );
    assert.throws(() => renderUserData(loadUserDataTemplate(), { ...params, packageSha256: '' }), /SHA-256/);
    assert.throws(() => renderUserData('{{NOPE}}', params), /unknown placeholders: NOPE/);
    assert.throws(() => renderUserData('x'.repeat(USER_DATA_MAX_BYTES + 1), params), /EC2 accepts at most/);
  });

  it("pins the release: aws.ec2.releaseSha256, else the data dir's pin from `nommer setup aws`, else a config error that says how", async () => {
    const home = mkdtempSync(join(tmpdir(), 'nommer-pin-'));
    try {
      assert.throws(
        () => pinnedReleaseSha256(awsConfig(), home, VERSION),
        (err: NommerError) =>
          err.code === 'CONFIG_INVALID' &&
          /no SHA-256 is pinned/.test(err.message) &&
          /nommer setup aws/.test(err.hint ?? ''),
      );
      const sha = 'ab'.repeat(32);
      await pinRelease(home, { uri: releaseUri('nommer-ud-test', VERSION), bytes: 1, version: VERSION, sha256: sha });
      assert.equal(pinnedReleaseSha256(awsConfig(), home, VERSION), sha);
      assert.equal((statSync(join(home, 'releases.json')).mode & 0o777).toString(8), '600');
      // A pin is for one release URI: another bucket's release is not pinned by it.
      assert.throws(() => pinnedReleaseSha256(awsConfig({}, { bucket: 'other-bucket' }), home, VERSION), /no SHA-256/);
      const over = 'CD'.repeat(32);
      assert.equal(
        pinnedReleaseSha256(awsConfig({}, { ec2: { releaseSha256: over } }), home, VERSION),
        over.toLowerCase(),
      );
      assert.throws(() => awsConfig({}, { ec2: { releaseSha256: 'abc' } }), /releaseSha256.*SHA-256 in hex/s);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('a releases.json that does not read back is DATA_INVALID naming it, with how to pin again', () => {
    const home = mkdtempSync(join(tmpdir(), 'nommer-pin-'));
    try {
      const uri = releaseUri('nommer-ud-test', VERSION);
      for (const text of [
        '{"releases": [',
        JSON.stringify({ releases: { [uri]: { version: VERSION, sha256: 'x' } } }),
      ]) {
        writeFileSync(join(home, 'releases.json'), text);
        assert.throws(
          () => pinnedReleaseSha256(awsConfig(), home, VERSION),
          (err: NommerError) =>
            err.code === 'DATA_INVALID' && err.message.includes('releases.json') && /setup aws/.test(err.hint ?? ''),
        );
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('needs a bucket to install nommer from', () => {
    assert.throws(() => renderUserDataFor(parseConfig({ backend: 'aws' }), VERSION, PIN), /aws\.bucket/);
  });

  it('is valid bash', () => {
    const r = spawnSync('bash', ['-n'], { input: renderUserDataFor(awsConfig(), VERSION, PIN), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  // shellcheck is one of the tools `npm test` makes sure of before any test runs.
  it('passes shellcheck', () => {
    const r = spawnSync('shellcheck', ['--shell=bash', '--severity=style', '-'], {
      input: renderUserDataFor(awsConfig(), VERSION, PIN),
      encoding: 'utf8',
    });
    assert.ifError(r.error);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});

describe('user-data run in test mode (moto)', () => {
  let moto: Moto;
  let dir: string;

  before(async () => {
    moto = await startMoto();
  });
  after(async () => {
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    pinned = PIN;
    dir = mkdtempSync(join(tmpdir(), 'nommer-userdata-'));
  });

  const config = () => awsConfig({}, { endpoint: moto.endpoint, forcePathStyle: true, ec2: { idleExitSeconds: 2 } });

  const settings = () => ({ endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 1 });
  /** The SHA-256 `nommer setup aws` pinned for what it published (PIN when nothing was). */
  let pinned = PIN;

  /**
   * One `npm pack` of this checkout for every test that needs the tarball (about 3 s of CPU each):
   * packing is the same every time. Stored at the release key and pinned, it is what
   * publishRelease leaves (pack, hash, store); that function itself runs in aws-setup-cli.test,
   * through `nommer setup aws`.
   */
  let packed: Promise<{ file: string; dir: string }> | undefined;
  const packedRelease = () => (packed ??= packRelease());
  after(async () => {
    if (packed) rmSync((await packed).dir, { recursive: true, force: true });
  });

  /** The cluster as `nommer setup aws` leaves it: queues, bucket, this release at its key, pinned. */
  async function prepareCluster(): Promise<void> {
    await setupAws(settings(), { bucket: 'nommer-ud-test', queuePrefix: 'udt' });
    const { file } = await packedRelease();
    await new S3Storage({ client: s3Client(settings()) }).store(file, releaseUri('nommer-ud-test', VERSION), {
      overwrite: true,
    });
    pinned = await sha256File(file);
  }

  /** Runs the rendered script the way cloud-init would, plus the test switches. */
  function runScript(extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
    const scriptPath = join(dir, 'user-data.sh');
    writeFileSync(scriptPath, renderUserDataFor(config(), VERSION, pinned), { mode: 0o755 });
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      NOMMER_USERDATA_TEST: '1',
      NOMMER_USERDATA_ROOT: join(dir, 'root'),
      NOMMER_USERDATA_SHUTDOWN_MARKER: join(dir, 'powered-off'),
      NOMMER_BIN: join(packageRoot(), 'bin', 'nommer'),
      NOMMER_INSTANCE_ID: 'i-0userdatatest',
      // Stand-ins for the instance role (the script itself carries none).
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...extraEnv,
    };
    return new Promise((resolve, reject) => {
      const child = spawn('bash', [scriptPath], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => {
        stderr += c;
      });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`user-data did not finish in 60 s:\n${stderr}`));
      }, 60_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
  }

  it('fetches the release, starts a worker that idles out after --idle-exit 2, then powers off', async () => {
    await prepareCluster();
    const t0 = Date.now();
    const { code, stderr } = await runScript();
    const elapsed = Date.now() - t0;
    assert.equal(code, 0, stderr);
    // The release was fetched from the bucket by curl with SigV4.
    const fetched = join(dir, 'root/var/tmp/nommer-bootstrap', `media-nommer-${VERSION}.tgz`);
    const listing = spawnSync('tar', ['-tzf', fetched], { encoding: 'utf8' });
    assert.equal(listing.status, 0, listing.stderr);
    for (const f of [
      'package/package.json',
      'package/bin/nommer',
      'package/templates/user-data.sh',
      'package/dist/src/cli.js',
    ])
      assert.ok(listing.stdout.split('\n').includes(f), `${f} in the release`);
    const pj = spawnSync('tar', ['-xzOf', fetched, 'package/package.json'], { encoding: 'utf8' });
    assert.equal(JSON.parse(pj.stdout).version, VERSION);
    // The worker's config is the one rendered, and the worker accepted it.
    const written = JSON.parse(readFileSync(join(dir, 'root/etc/nommer/nommer.config.json'), 'utf8'));
    assert.equal(written.aws.queuePrefix, 'udt');
    assert.match(
      stderr,
      /starting worker i-0userdatatest: .*worker --backend aws --idle-exit 2 --concurrency 1 --id i-0userdatatest/,
    );
    // The worker's own JSON log: it started on the aws backend and stopped because it was idle.
    const logs = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; backend?: string; reasons?: string[]; worker?: string });
    assert.ok(
      logs.some((l) => l.msg === 'worker started' && l.backend === 'aws' && l.worker === 'i-0userdatatest'),
      stderr,
    );
    assert.ok(
      logs.some((l) => l.msg === 'worker stopped' && l.reasons?.every((r) => r === 'idle')),
      stderr,
    );
    assert.match(stderr, /worker exited with 0/);
    assert.equal(readFileSync(join(dir, 'powered-off'), 'utf8'), 'shutdown -h now (worker exit 0)\n');
    assert.ok(elapsed >= 2000, `idled for at least 2 s (took ${elapsed} ms)`);
    assert.match(stderr, /test mode: skipping the Node, ffmpeg and npm installs/);
    assert.match(stderr, new RegExp(`release SHA-256 matches the pin \\(${pinned}\\)`));
  });

  it('refuses a release in the bucket that is not the pinned one (replaced after setup), and powers off', async () => {
    await prepareCluster();
    // Someone with write access to the bucket replaces the tarball every new instance installs as root.
    const evil = join(dir, 'evil.tgz');
    writeFileSync(evil, 'not the release feederd pinned');
    await new S3Storage({ client: s3Client(settings()) }).store(evil, releaseUri('nommer-ud-test', VERSION), {
      overwrite: true,
    });
    const { code, stderr } = await runScript();
    assert.notEqual(code, 0);
    assert.match(stderr, new RegExp(`refusing .*: its SHA-256 is [0-9a-f]{64}, not the pinned ${pinned}`));
    assert.doesNotMatch(stderr, /starting worker/);
    assert.ok(
      !existsSync(join(dir, 'root/var/tmp/nommer-bootstrap', `media-nommer-${VERSION}.tgz`)),
      'tarball removed',
    );
    assert.match(readFileSync(join(dir, 'powered-off'), 'utf8'), /^shutdown -h now \(worker exit [1-9]\d*\)\n$/);
  });

  it('refuses a pinned release without npm-shrinkwrap.json (its dependencies would not be pinned)', async () => {
    await setupAws(settings(), { bucket: 'nommer-ud-test', queuePrefix: 'udt' });
    // This version's release less its lockfile, pinned as it is: the SHA-256 check passes.
    const { file } = await packedRelease();
    const unpinned = join(dir, 'unpinned.tgz');
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    assert.equal(spawnSync('tar', ['-xzf', file, '-C', tree]).status, 0);
    rmSync(join(tree, 'package', 'npm-shrinkwrap.json'));
    assert.equal(spawnSync('tar', ['-czf', unpinned, '-C', tree, 'package']).status, 0);
    pinned = await sha256File(unpinned);
    await new S3Storage({ client: s3Client(settings()) }).store(unpinned, releaseUri('nommer-ud-test', VERSION), {
      overwrite: true,
    });
    const { code, stderr } = await runScript();
    assert.notEqual(code, 0);
    assert.match(stderr, /release SHA-256 matches the pin/);
    assert.match(stderr, /refusing .*: it has no npm-shrinkwrap\.json, so its dependencies would not be pinned/);
    assert.doesNotMatch(stderr, /starting worker/);
    assert.match(readFileSync(join(dir, 'powered-off'), 'utf8'), /^shutdown -h now \(worker exit [1-9]\d*\)\n$/);
  });

  it('a bootstrap that fails (no release in the bucket) powers off too, instead of idling at a cost', async () => {
    await setupAws(settings(), { bucket: 'nommer-ud-test', queuePrefix: 'udt' });
    const { code, stderr } = await runScript();
    assert.notEqual(code, 0);
    assert.match(readFileSync(join(dir, 'powered-off'), 'utf8'), /^shutdown -h now \(worker exit [1-9]\d*\)\n$/);
    assert.match(
      stderr,
      new RegExp(
        `fetching nommer ${VERSION.replace(/\./g, '\\.')} from ${releaseUri('nommer-ud-test', VERSION).replace(/[./]/g, '\\$&')}`,
      ),
    );
    assert.doesNotMatch(stderr, /starting worker/);
  });

  it('install-only mode (AMI baking) prepares everything and neither runs a worker nor powers off', async () => {
    await prepareCluster();
    const { code, stderr } = await runScript({ NOMMER_USERDATA_INSTALL_ONLY: '1' });
    assert.equal(code, 0, stderr);
    assert.ok(existsSync(join(dir, 'root/etc/nommer/nommer.config.json')));
    assert.ok(!existsSync(join(dir, 'powered-off')));
    assert.doesNotMatch(stderr, /starting worker/);
    rmSync(dir, { recursive: true, force: true });
  });
});

// `nommer fleet user-data` through the real CLI program in a child process (registering the
// command itself if src/commands/index.ts does not yet).
describe('nommer fleet user-data', () => {
  it('prints the same script feederd renders', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nommer-fleetcmd-'));
    const raw = {
      backend: 'aws',
      aws: { bucket: 'nommer-ud-test', queuePrefix: 'udt', region: 'us-east-1', ec2: { releaseSha256: PIN } },
    };
    const cfgFile = join(dir, 'nommer.config.json');
    writeFileSync(cfgFile, JSON.stringify(raw));
    const dist = join(packageRoot(), 'dist', 'src');
    const cli = `
      const { buildProgram } = await import(${JSON.stringify(join(dist, 'cli.js'))});
      const { registerFleet } = await import(${JSON.stringify(join(dist, 'commands', 'fleet.js'))});
      const program = buildProgram();
      if (!program.commands.some((c) => c.name() === 'fleet')) registerFleet(program);
      await program.parseAsync(process.argv.slice(1), { from: 'user' });`;
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', cli, '--', '--config', cfgFile, 'fleet', 'user-data'],
      { encoding: 'utf8', env: { ...process.env, NOMMER_HOME: dir } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, renderUserDataFor(parseConfig(raw), VERSION, PIN));
    // Without a pin it says how to get one, and prints no script.
    writeFileSync(cfgFile, JSON.stringify({ ...raw, aws: { ...raw.aws, ec2: {} } }));
    const unpinned = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', cli, '--', '--config', cfgFile, 'fleet', 'user-data'],
      { encoding: 'utf8', env: { ...process.env, NOMMER_HOME: dir } },
    );
    assert.notEqual(unpinned.status, 0);
    assert.equal(unpinned.stdout, '');
    assert.match(unpinned.stderr, /no SHA-256 is pinned[\s\S]*nommer setup aws/);
    assert.doesNotMatch(unpinned.stderr, /\n\s+at /, 'no stack trace');
    rmSync(dir, { recursive: true, force: true });
  });
});
