// Storage on the local file system: plain paths and file:// URIs; http(s) inputs are downloaded.
// Local inputs are used in place (no copy); outputs are put in place by temp name + rename.
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { NommerError, asNommerError } from '../../errors.js';
import type { Storage, StoreResult } from '../../ports/storage.js';
import { downloadHttp } from '../http-download.js';
import { isHttpUri, isLocalUri, localPathOf } from '../../uri.js';
import { tempPathBeside } from '../../paths.js';

export class FsStorage implements Storage {
  handles(uri: string): boolean {
    return isLocalUri(uri) || isHttpUri(uri);
  }

  async fetch(uri: string, destDir: string, opts: { signal?: AbortSignal; onBytes?: (done: number, total?: number) => void } = {}): Promise<string> {
    if (isHttpUri(uri)) return downloadHttp(uri, destDir, opts);
    const path = localPathOf(uri);
    const st = await stat(path).catch(() => undefined);
    if (!st) throw new NommerError('INPUT_NOT_FOUND', `input not found: ${path}`, { hint: 'check the path; the worker reads it from this machine' });
    return path;
  }

  async store(localFile: string, uri: string, opts: { overwrite?: boolean } = {}): Promise<StoreResult> {
    // http(s) is an input scheme only: "storing" to it would write a relative path named
    // `http:/host/...` into the worker's working directory.
    if (!isLocalUri(uri)) throw new NommerError('USAGE', `cannot store an output to ${uri}: destinations are local paths, file:// or (aws backend) s3:// URIs`, { hint: 'choose a local path or an s3:// URI with -o' });
    const dest = localPathOf(uri);
    if (localFile === dest) return { uri, bytes: (await stat(dest)).size };
    if (!opts.overwrite && (await stat(dest).catch(() => undefined))) throw new NommerError('OUTPUT_EXISTS', `output exists: ${dest}`, { hint: 'submit with --force to overwrite' });
    try {
      await mkdir(dirname(dest), { recursive: true });
      const temp = tempPathBeside(dest);
      try {
        // rename first (same file system: instant); across file systems, copy then rename.
        await rename(localFile, temp).catch(async (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EXDEV') throw err;
          await copyFile(localFile, temp);
        });
        await rename(temp, dest);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
      return { uri, bytes: (await stat(dest)).size };
    } catch (err) {
      throw asNommerError(err);
    }
  }

  async exists(uri: string): Promise<boolean> {
    return Boolean(await stat(localPathOf(uri)).catch(() => undefined));
  }

  async remove(uri: string): Promise<void> {
    await rm(localPathOf(uri), { force: true });
  }
}

/** Picks the storage adapter for a URI from a list (first that handles it). */
export class StorageRouter implements Storage {
  constructor(private readonly adapters: Storage[]) {}
  private pick(uri: string): Storage {
    const a = this.adapters.find((s) => s.handles(uri));
    if (!a) throw new NommerError('USAGE', `no storage for ${uri}`, { hint: 'use a local path, http(s):// or (with the aws backend) s3://' });
    return a;
  }
  handles(uri: string): boolean { return this.adapters.some((s) => s.handles(uri)); }
  fetch(uri: string, destDir: string, opts?: Parameters<Storage['fetch']>[2]) { return this.pick(uri).fetch(uri, destDir, opts); }
  store(localFile: string, uri: string, opts?: Parameters<Storage['store']>[2]) { return this.pick(uri).store(localFile, uri, opts); }
  exists(uri: string) { return this.pick(uri).exists(uri); }
  remove(uri: string) { return this.pick(uri).remove(uri); }
}
