// Where an EC2 worker gets nommer from: a package tarball of feederd's exact version in the
// cluster's bucket, which `nommer setup aws` publishes (packRelease + publishRelease) and the
// user-data script fetches with the instance role. Same version on both sides means both speak
// the same message version.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as z from 'zod';
import type { Config } from '../config.js';
import { NommerError } from '../errors.js';
import { sha256File } from '../hash.js';
import type { Storage, StoreResult } from '../ports/storage.js';
import { packageRoot } from '../paths.js';
import { readBack } from '../read-back.js';

const execFileAsync = promisify(execFile);

export const RELEASE_PREFIX = 'nommer-releases/';

/** The key of a version's tarball in the bucket (the worker IAM policy's s3:GetObject covers it). */
export function releaseKey(version: string): string {
  if (!/^[0-9A-Za-z.+-]+$/.test(version)) throw new NommerError('INTERNAL', `not a package version: ${version}`);
  return `${RELEASE_PREFIX}media-nommer-${version}.tgz`;
}

export function releaseUri(bucket: string, version: string): string {
  return `s3://${bucket}/${releaseKey(version)}`;
}

/** The lockfile a release carries: every dependency's exact version and sha512 (see packRelease). */
export const RELEASE_LOCKFILE = 'npm-shrinkwrap.json';

const PackReport = z.array(z.object({ files: z.array(z.object({ path: z.string() })) }));

/**
 * `npm pack` of this installation into a fresh temp dir (scripts skipped: dist/ is already
 * built). Returns the tarball's path; the caller removes `dir` when done. The tarball must carry
 * npm-shrinkwrap.json: user-data installs with `npm ci` from it, so the SHA-256 pin of the tarball
 * covers every dependency too (exact versions, sha512 each), not only nommer's own code.
 */
export async function packRelease(root = packageRoot()): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'nommer-pack-'));
  let report: z.infer<typeof PackReport>;
  try {
    const { stdout } = await execFileAsync(
      'npm',
      ['pack', '--ignore-scripts', '--silent', '--json', '--pack-destination', dir],
      { cwd: root, maxBuffer: 64 << 20 },
    );
    report = PackReport.parse(JSON.parse(stdout));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new NommerError('INTERNAL', `npm pack failed in ${root}: ${(err as Error).message.split('\n')[0]}`, {
      cause: err,
      hint: 'is npm on PATH?',
    });
  }
  const tgz = (await readdir(dir)).filter((f) => f.endsWith('.tgz'));
  if (tgz.length !== 1) throw new NommerError('INTERNAL', `npm pack made ${tgz.length} tarballs in ${dir}`);
  if (!report.some((r) => r.files.some((f) => f.path === RELEASE_LOCKFILE))) {
    await rm(dir, { recursive: true, force: true });
    throw new NommerError('INTERNAL', `the release packed from ${root} has no ${RELEASE_LOCKFILE}`, {
      hint: 'instances would resolve its dependencies from version ranges at boot; install nommer from its published package, or run setup from a checkout (it has the file)',
    });
  }
  return { file: join(dir, tgz[0]!), dir };
}

export interface PublishedRelease extends StoreResult {
  version: string;
  /** Hex SHA-256 of the tarball: the user-data installs nothing else. */
  sha256: string;
}

/** Pack this version and put it where workers fetch it (overwrites: the same version is the same code). */
export async function publishRelease(storage: Storage, bucket: string, version: string): Promise<PublishedRelease> {
  const { file, dir } = await packRelease();
  try {
    const sha256 = await sha256File(file);
    const stored = await storage.store(file, releaseUri(bucket, version), { overwrite: true });
    return { ...stored, version, sha256 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- the pin -----------------------------------------------------------------------------------
// What `nommer setup aws` published is pinned on the machine that published it, outside the
// bucket: whoever can write the bucket (a worker, a job) cannot also change what instances accept.

const pinFile = z.object({
  /** release URI -> its pin */
  releases: z.record(
    z.string(),
    z.object({ version: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), publishedAt: z.string() }),
  ),
});
type PinFile = z.infer<typeof pinFile>;

export function releasePinsPath(home: string): string {
  return join(home, 'releases.json');
}

function readPins(home: string): PinFile {
  const path = releasePinsPath(home);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { releases: {} };
    throw new NommerError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check its permissions, or remove it and run `nommer setup aws` again to publish and pin the release',
    });
  }
  return readBack(pinFile, text, path, 'remove it and run `nommer setup aws` again to publish and pin the release');
}

/** Keep the published release's SHA-256 in the data dir (0600, written whole). */
export async function pinRelease(home: string, release: PublishedRelease, now = new Date()): Promise<void> {
  const pins = readPins(home);
  pins.releases[release.uri] = { version: release.version, sha256: release.sha256, publishedAt: now.toISOString() };
  await mkdir(home, { recursive: true, mode: 0o700 });
  const path = releasePinsPath(home);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(pins, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/**
 * The SHA-256 EC2 workers must find in this version's release: aws.ec2.releaseSha256 when set,
 * else the pin `nommer setup aws` kept in this data dir. Neither: a config error saying how to get one.
 */
export function pinnedReleaseSha256(config: Config, home: string, version: string): string {
  if (config.aws.ec2.releaseSha256) return config.aws.ec2.releaseSha256.toLowerCase();
  const bucket = config.aws.bucket;
  if (!bucket)
    throw new NommerError('CONFIG_INVALID', 'EC2 workers need aws.bucket (nommer is installed on them from it)');
  const uri = releaseUri(bucket, version);
  const pin = readPins(home).releases[uri];
  if (pin) return pin.sha256;
  throw new NommerError('CONFIG_INVALID', `no SHA-256 is pinned for nommer ${version}'s release ${uri}`, {
    hint: 'run `nommer setup aws` with this data dir (it publishes the release and pins it), or set aws.ec2.releaseSha256 to the SHA-256 that `nommer setup aws` printed',
  });
}
