// Where nommer's own files are (templates, migrations) and where its data goes (NOMMER_HOME).
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';

let root: string | undefined;

/** What nommer reads of a package.json. */
const packageJson = z.looseObject({ name: z.string(), version: z.string() });

/** The package root: the nearest folder above this module with nommer's package.json. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && packageJson.safeParse(JSON.parse(readFileSync(pj, 'utf8'))).data?.name === 'media-nommer')
      return (root = dir);
    dir = dirname(dir);
  }
  throw new Error('cannot find the media-nommer package root');
}

/** bin/nommer of this package: what feederd starts workers and the daemon with. */
export function nommerBin(): string {
  return join(packageRoot(), 'bin', 'nommer');
}

export function packageVersion(): string {
  return packageJson.parse(JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8'))).version;
}

/** Files under the data directory. */
export function dataPaths(home: string) {
  return {
    home,
    db: join(home, 'nommer.db'),
    pid: join(home, 'feederd.pid'),
    log: join(home, 'feederd.log'),
    workerLog: join(home, 'workers.log'),
    /** Address (and token) of the running feederd, for clients. */
    api: join(home, 'feederd.json'),
    work: join(home, 'work'),
  };
}

/**
 * The data dir, made if missing, private to its owner (0700): it holds every job's paths, URLs
 * and webhook targets, and the API token. Files in it are made 0600 (privateFile).
 */
export function ensureDataDir(home: string): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  try {
    chmodSync(home, 0o700);
  } catch {
    /* not ours to change (a shared mount): its owner decides */
  }
}

/** Make an existing file of the data dir readable by its owner only (0600). */
export function privateFile(path: string): void {
  try {
    chmodSync(path, 0o600);
  } catch {
    /* missing, or not ours */
  }
}

/** A worker's private scratch dir under the data dir (its id made safe as a file name). */
export function workerScratchDir(home: string, workerId: string): string {
  return join(dataPaths(home).work, workerId.replace(/[^A-Za-z0-9_.-]/g, '_'));
}

/**
 * A hidden temporary name beside `path` (`.<name>.<tag>.nommer-part`): same directory, so the
 * final rename is atomic. `tag` defaults to a random one; a worker passes its task id so a later
 * delivery of the same task reuses (and so removes) a killed worker's partial file.
 */
export function tempPathBeside(path: string, tag: string = randomBytes(4).toString('hex')): string {
  return join(dirname(resolve(path)), `.${basename(path)}.${tag.replace(/[^A-Za-z0-9_.-]/g, '_')}.nommer-part`);
}
