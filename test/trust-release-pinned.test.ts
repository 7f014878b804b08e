// Issue 23 item 13: the release an EC2 worker installs pins its dependencies, not only nommer's
// own code. The tarball `nommer setup aws` publishes (packRelease) carries npm-shrinkwrap.json with
// every package's exact version and sha512; `npm ci` from it needs no registry lookup of a version
// range (checked offline with an empty npm cache: anything left to resolve fails ENOTCACHED); and
// the rendered user-data installs with `npm ci` from the unpacked, SHA-256-checked release.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packRelease, RELEASE_LOCKFILE } from '../src/fleet/release.js';
import { renderUserDataFor } from '../src/fleet/user-data.js';
import { parseConfig } from '../src/config.js';
import { packageVersion } from '../src/paths.js';

const work = mkdtempSync(join(tmpdir(), 'nommer-trust-release-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface LockEntry {
  version?: string;
  integrity?: string;
  dev?: boolean;
  link?: boolean;
}

test('the release carries a lockfile that pins every runtime dependency, and npm ci needs no registry lookup', async () => {
  const { file, dir } = await packRelease();
  try {
    const app = join(work, 'app');
    mkdirSync(app);
    const x = spawnSync('tar', ['-xzf', file, '-C', app, '--strip-components=1'], { encoding: 'utf8' });
    assert.equal(x.status, 0, x.stderr);
    const lock = JSON.parse(readFileSync(join(app, RELEASE_LOCKFILE), 'utf8')) as {
      packages: Record<string, LockEntry & { dependencies?: Record<string, string> }>;
    };
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of Object.keys(pkg.dependencies))
      assert.ok(lock.packages[`node_modules/${name}`], `${name} is in the lockfile`);
    const runtime = Object.entries(lock.packages).filter(([k, v]) => k !== '' && !v.dev && !v.link);
    assert.ok(runtime.length > 50, `${runtime.length} runtime packages`);
    for (const [k, v] of runtime) {
      assert.match(v.version ?? '', /^\d+\.\d+\.\d+(?:[-+][\w.-]+)?$/, `${k}: an exact version`);
      assert.match(v.integrity ?? '', /^sha512-[A-Za-z0-9+/]+=*$/, `${k}: a sha512`);
    }
    // What user-data runs, offline with an empty cache: it installs from the lockfile or fails.
    const cache = join(work, 'empty-npm-cache');
    const ci = spawnSync(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--dry-run', '--offline', '--cache', cache, '--no-audit', '--no-fund'],
      { cwd: app, encoding: 'utf8', timeout: 50_000 },
    );
    assert.equal(ci.status, 0, ci.stdout + ci.stderr);
    assert.match(ci.stdout, new RegExp(`added ${runtime.length} packages`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('user-data installs the checked release with npm ci from its lockfile, never npm install of the tarball', () => {
  const config = parseConfig({
    backend: 'aws',
    aws: { bucket: 'nommer-ud-test', queuePrefix: 'udt', region: 'us-east-1' },
  });
  const script = renderUserDataFor(config, packageVersion(), 'ab'.repeat(32));
  assert.doesNotMatch(script, /^\s*npm install\b/m, 'no npm install runs');
  const check = script.indexOf('sha256sum "$tarball"');
  const unpack = script.indexOf('tar -xzf "$tarball" -C "$app"');
  const refuse = script.indexOf('if [ ! -f "$app/npm-shrinkwrap.json" ]');
  // No lifecycle scripts: the release's own `prepare` (tsc) would run, and the release has no
  // tsconfig.json and no typescript, so every instance's install failed. Then better-sqlite3's alone.
  const ci = script.search(/\(cd "\$app" && npm ci --omit=dev --ignore-scripts\b/);
  assert.ok(script.indexOf('npm rebuild better-sqlite3') > ci, 'better-sqlite3 built after npm ci');
  assert.ok(
    check > 0 && check < unpack && unpack < refuse && refuse < ci,
    'checked, unpacked, lockfile required, then npm ci',
  );
});
