// Storage on the local file system: plain paths and file:// URIs; http(s) inputs are downloaded.
// Local inputs are used in place (no copy). An output is written to a hidden temp name beside its
// destination, unique to the delivery, and committed by a no-replace link (or, with overwrite, a
// rename that keeps the old file as a backup until every output of the task is in place).
// Temp names older than a day that nobody commits are swept when an output is prepared beside them.
import { randomBytes } from 'node:crypto';
import { access, copyFile, link, mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { NommerError, asNommerError } from '../../errors.js';
import {
  commitAll,
  sameFile,
  type Committed,
  type FileIdentity,
  type PreparedOutput,
  type PrepareOptions,
  type Storage,
  type StoreResult,
} from '../../ports/storage.js';
import { isHttpUri, isLocalUri, localPathOf } from '../../uri.js';
import { tempPathBeside } from '../../paths.js';

export class FsStorage implements Storage {
  handles(uri: string): boolean {
    return isLocalUri(uri) || isHttpUri(uri);
  }

  async fetch(
    uri: string,
    destDir: string,
    opts: { signal?: AbortSignal; onBytes?: (done: number, total?: number) => void } = {},
  ): Promise<string> {
    // Loaded for an http(s) input only: a local encode or worker does not pay for the downloader.
    if (isHttpUri(uri)) return (await import('../http-download.js')).downloadHttp(uri, destDir, opts);
    const path = localPathOf(uri);
    const st = await stat(path).catch(() => undefined);
    if (!st)
      throw new NommerError('INPUT_NOT_FOUND', `input not found: ${path}`, {
        hint: 'check the path; the worker reads it from this machine',
      });
    return path;
  }

  /** Moves localFile into place (a rename on one file system, else a copy), never half-visible. */
  async store(localFile: string, uri: string, opts: { overwrite?: boolean } = {}): Promise<StoreResult> {
    const dest = resolve(localDestination(uri));
    if (resolve(localFile) === dest) return { uri, bytes: (await stat(dest)).size };
    const overwrite = opts.overwrite ?? false;
    await this.checkOutput(uri, { overwrite });
    const out = await this.prepareOutput(uri, { overwrite, scratchDir: dirname(dest) });
    try {
      await rename(localFile, out.path).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EXDEV') throw err;
        await copyFile(localFile, out.path);
      });
      return (await commitAll([out]))[0]!;
    } catch (err) {
      await out.discard();
      throw asNommerError(err);
    }
  }

  async checkOutput(uri: string, opts: { overwrite: boolean }): Promise<void> {
    const dest = resolve(localDestination(uri));
    const st = await stat(dest).catch(() => undefined);
    if (st?.isDirectory())
      throw new NommerError('OUTPUT_UNWRITABLE', `output ${dest} is a directory`, { hint: 'give a file path with -o' });
    if (st && !opts.overwrite)
      throw new NommerError('OUTPUT_EXISTS', `output exists: ${dest}`, {
        hint: 'use --force to overwrite, or choose another path with -o',
      });
    // The nearest existing ancestor must be writable (missing directories are created).
    let dir = dirname(dest);
    while (!(await stat(dir).catch(() => undefined)) && dirname(dir) !== dir) dir = dirname(dir);
    try {
      await access(dir, constants.W_OK);
    } catch {
      throw new NommerError('OUTPUT_UNWRITABLE', `cannot write to ${dir}`, { hint: 'the directory must be writable' });
    }
  }

  async prepareOutput(uri: string, opts: PrepareOptions): Promise<PreparedOutput> {
    const dest = resolve(localDestination(uri));
    try {
      await mkdir(dirname(dest), { recursive: true });
    } catch (err) {
      throw asNommerError(err);
    }
    await sweepStaleTemps(dest);
    const unique = `${opts.tag ? `${opts.tag}.` : ''}${randomBytes(4).toString('hex')}`;
    const path = tempPathBeside(dest, unique);
    let committed = false;
    return {
      uri,
      path,
      commit: async () => {
        const c = await commitLocal(path, dest, uri, opts.overwrite);
        committed = true;
        return c;
      },
      discard: async () => {
        if (!committed) await rm(path, { force: true });
      },
    };
  }

  async exists(uri: string): Promise<boolean> {
    return Boolean(await stat(localPathOf(uri)).catch(() => undefined));
  }

  async remove(uri: string): Promise<void> {
    await rm(localPathOf(uri), { force: true });
  }

  async identify(uri: string): Promise<FileIdentity | null> {
    const st = await stat(localPathOf(uri)).catch(() => undefined);
    return st?.isFile() ? identityOf(st) : null;
  }

  /** Compared just before the unlink, as a worker's own undo does (a window of microseconds). */
  async removeIfSame(uri: string, expected: FileIdentity): Promise<boolean> {
    const now = await this.identify(uri);
    if (!now || !sameFile(now, expected)) return false;
    await rm(localPathOf(uri), { force: true });
    return true;
  }
}

/** inode and device name the file; size and mtime tell a reused inode from the one we saw. */
function identityOf(st: Stats): FileIdentity {
  return { bytes: st.size, modifiedMs: st.mtimeMs, tag: `${st.dev}:${st.ino}` };
}

/** The local path of an output URI; http(s) is an input scheme only. */
function localDestination(uri: string): string {
  if (!isLocalUri(uri)) {
    throw new NommerError(
      'USAGE',
      `cannot write an output to ${uri}: destinations are local paths, file:// or (aws backend) s3:// URIs`,
      { hint: 'choose a local path or an s3:// URI with -o' },
    );
  }
  return localPathOf(uri);
}

/**
 * Remove the temp files of a local output written by workers `gone` says are gone (a tag's first
 * part is the worker id that wrote it; ids are never reused, so nobody else would remove them):
 * beside a file output, or inside a package's directory (its URI), where every package file's
 * temp is. Returns how many went.
 */
export async function removeTempsOfWorkers(uri: string, gone: (workerId: string) => boolean): Promise<number> {
  if (!isLocalUri(uri)) return 0;
  const dest = resolve(localPathOf(uri));
  const inside = (await stat(dest).catch(() => undefined))?.isDirectory() ?? false;
  const dir = inside ? dest : dirname(dest);
  const start = inside ? '.' : `.${basename(dest)}.`;
  let n = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(start) || !name.endsWith('.nommer-part')) continue;
    const worker = inside ? workerOfPackageTemp(name) : (name.slice(start.length).split('.')[0] ?? '');
    if (worker && gone(worker)) {
      await rm(join(dir, name), { force: true }).catch(() => undefined);
      n++;
    }
  }
  return n;
}

/**
 * The worker id in a package file's temp name, `.<file>.<worker>.<attempt>.<delivery>.<random>.nommer-part`
 * (the file's own name has dots, so it is read from the end); '' for any other name.
 */
function workerOfPackageTemp(name: string): string {
  return /\.([^.]+)\.\d+\.\d+\.[0-9a-f]{8}\.nommer-part$/.exec(name)?.[1] ?? '';
}

/** Temp files nobody committed (a worker killed mid-write) are removed after this long. */
export const STALE_TEMP_MS = 24 * 3600 * 1000;

async function sweepStaleTemps(dest: string, now = Date.now()): Promise<void> {
  const dir = dirname(dest);
  const prefix = `.${basename(dest)}.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names) {
    if (!n.startsWith(prefix) || !/\.nommer-(part|old)$/.test(n)) continue;
    const p = join(dir, n);
    const st = await stat(p).catch(() => undefined);
    if (st && now - st.mtimeMs > STALE_TEMP_MS) await rm(p, { force: true }).catch(() => undefined);
  }
}

/**
 * Put temp at dest. Without overwrite: link(2) fails with EEXIST when dest appeared meanwhile,
 * so nothing is ever replaced (file systems without hard links fall back to check + rename).
 * With overwrite: the old file is kept as a hidden backup until finish(), so undo() restores it.
 */
async function commitLocal(temp: string, dest: string, uri: string, overwrite: boolean): Promise<Committed> {
  const st = await stat(temp).catch(() => undefined);
  if (!st) throw new NommerError('FFMPEG_FAILED', `no output was written for ${dest}`, { retriable: true });
  const bytes = st.size;
  try {
    if (!overwrite) {
      try {
        await link(temp, dest);
        await unlink(temp);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST')
          throw new NommerError('OUTPUT_EXISTS', `output exists: ${dest}`, {
            hint: 'a file appeared there while encoding; submit with --force to overwrite',
          });
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
        if (await stat(dest).catch(() => undefined))
          throw new NommerError('OUTPUT_EXISTS', `output exists: ${dest}`, {
            hint: 'submit with --force to overwrite',
          });
        await rename(temp, dest);
      }
      const ino = (await stat(dest)).ino;
      return {
        uri,
        bytes,
        // Only the file we put there: if someone replaced it since, it is theirs.
        undo: async () => {
          if ((await stat(dest).catch(() => undefined))?.ino === ino) await rm(dest, { force: true });
        },
        finish: async () => {},
      };
    }
    const backup = tempPathBeside(dest, `${randomBytes(4).toString('hex')}.old`).replace(
      /\.nommer-part$/,
      '.nommer-old',
    );
    const hadOld = await link(dest, backup).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
    await rename(temp, dest);
    return {
      uri,
      bytes,
      undo: async () => {
        if (hadOld) await rename(backup, dest);
        else await rm(dest, { force: true });
      },
      finish: async () => {
        if (hadOld) await rm(backup, { force: true });
      },
    };
  } catch (err) {
    await rm(temp, { force: true });
    throw asNommerError(err);
  }
}

/** Picks the storage adapter for a URI from a list (first that handles it). */
export class StorageRouter implements Storage {
  constructor(private readonly adapters: Storage[]) {}
  private pick(uri: string): Storage {
    const a = this.adapters.find((s) => s.handles(uri));
    if (!a)
      throw new NommerError('USAGE', `no storage for ${uri}`, {
        hint: 'use a local path, http(s):// or (with the aws backend) s3://',
      });
    return a;
  }
  handles(uri: string): boolean {
    return this.adapters.some((s) => s.handles(uri));
  }
  fetch(uri: string, destDir: string, opts?: Parameters<Storage['fetch']>[2]) {
    return this.pick(uri).fetch(uri, destDir, opts);
  }
  store(localFile: string, uri: string, opts?: Parameters<Storage['store']>[2]) {
    return this.pick(uri).store(localFile, uri, opts);
  }
  checkOutput(uri: string, opts: { overwrite: boolean }) {
    return this.pick(uri).checkOutput(uri, opts);
  }
  prepareOutput(uri: string, opts: PrepareOptions) {
    return this.pick(uri).prepareOutput(uri, opts);
  }
  exists(uri: string) {
    return this.pick(uri).exists(uri);
  }
  remove(uri: string) {
    return this.pick(uri).remove(uri);
  }
  async identify(uri: string) {
    const a = this.pick(uri);
    return a.identify ? a.identify(uri) : null;
  }
  async removeIfSame(uri: string, expected: FileIdentity) {
    const a = this.pick(uri);
    return a.removeIfSame ? a.removeIfSame(uri, expected) : false;
  }
}
