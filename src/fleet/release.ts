// Where an EC2 worker gets nommer from: a package tarball of feederd's exact version in the
// cluster's bucket, which `nommer setup aws` publishes (packRelease + publishRelease) and the
// user-data script fetches with the instance role. Same version on both sides means both speak
// the same message version.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NommerError } from '../errors.js';
import type { Storage, StoreResult } from '../ports/storage.js';
import { packageRoot } from '../paths.js';

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

/**
 * `npm pack` of this installation into a fresh temp dir (scripts skipped: dist/ is already
 * built). Returns the tarball's path; the caller removes `dir` when done.
 */
export async function packRelease(root = packageRoot()): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'nommer-pack-'));
  try {
    await execFileAsync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: root });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new NommerError('INTERNAL', `npm pack failed in ${root}: ${(err as Error).message.split('\n')[0]}`, {
      cause: err,
      hint: 'is npm on PATH?',
    });
  }
  const tgz = (await readdir(dir)).filter((f) => f.endsWith('.tgz'));
  if (tgz.length !== 1) throw new NommerError('INTERNAL', `npm pack made ${tgz.length} tarballs in ${dir}`);
  return { file: join(dir, tgz[0]!), dir };
}

/** Pack this version and put it where workers fetch it (overwrites: the same version is the same code). */
export async function publishRelease(storage: Storage, bucket: string, version: string): Promise<StoreResult> {
  const { file, dir } = await packRelease();
  try {
    return await storage.store(file, releaseUri(bucket, version), { overwrite: true });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
