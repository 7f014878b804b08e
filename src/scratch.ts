// What a chunked job or a package leaves in storage besides its outputs (the pieces under the
// job's scratch prefix, their entries, a package's extras), and a package's own files: where they
// are and removing them. Storage calls only, no encoding code, so feederd's cleanup
// (orchestrator/chunk-cleanup.ts, late-outputs.ts) loads this without the encoders; the worker's
// tasks remove what they leave with the same functions.
import { mkdtemp, readFile, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extrasFileUri, type PackageParams, packageParams } from './abr/tasks.js';
import { type AssembleParams, manifestUri } from './chunked/tasks.js';
import type { Storage } from './ports/storage.js';
import { isLocalUri, localPathOf } from './uri.js';

/** Child of a package directory: a local path, or a key under an s3:// prefix. */
export function packageFileUri(dir: string, name: string): string {
  if (isLocalUri(dir)) return join(localPathOf(dir), name);
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The plain file names of a list read back from storage: anything else (a path, a dot file) is dropped. */
export function plainNames(list: unknown): string[] {
  return Array.isArray(list) ? list.filter((f): f is string => typeof f === 'string' && SAFE_NAME.test(f)) : [];
}

/** An extras entry's file names: plain names only (the entry is read back from scratch storage). */
export function extrasFiles(entry: Record<string, unknown>): string[] {
  return plainNames(entry.files);
}

/** A piece's entry (`<uri>.json`) as an object, or null when it is missing or unreadable. */
async function entryOf(storage: Storage, uri: string, dir: string): Promise<Record<string, unknown> | null> {
  try {
    const parsed: unknown = JSON.parse(await readFile(await storage.fetch(`${uri}.json`, dir), 'utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? { ...parsed } : null;
  } catch {
    return null;
  }
}

/** Remove a package's pieces from scratch (after it is committed, or when its job ends otherwise). */
export async function removePackageScratch(storage: Storage, p: PackageParams): Promise<void> {
  const uris = [...p.manifest.map((r) => r.uri), p.audio.uri];
  for (const u of uris) {
    await storage.remove(u).catch(() => undefined);
    await storage.remove(`${u}.json`).catch(() => undefined);
  }
  const dir = await mkdtemp(join(tmpdir(), 'nommer-extras-'));
  const entry = await entryOf(storage, p.extras.uri, dir);
  for (const f of extrasFiles(entry ?? {})) await storage.remove(extrasFileUri(p.extras.uri, f)).catch(() => undefined);
  await storage.remove(`${p.extras.uri}.json`).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  if (isLocalUri(p.scratch)) await rm(localPathOf(p.scratch), { recursive: true, force: true });
}

/** Remove a package's files (and its local directory when nothing else is in it). */
export async function removePackage(storage: Storage, dir: string, files: readonly string[]): Promise<void> {
  for (const f of files) await storage.remove(packageFileUri(dir, f)).catch(() => undefined);
  if (isLocalUri(dir)) await rmdir(localPathOf(dir)).catch(() => undefined);
}

/** Remove a chunked job's intermediates: every piece and manifest entry, and a local scratch directory. */
export async function removeScratch(
  storage: Storage,
  p: Pick<AssembleParams, 'manifest' | 'audio' | 'scratch'>,
): Promise<void> {
  // A package's pieces include its extras, listed in their own entry.
  const pkg = packageParams.safeParse(p);
  if (pkg.success) return removePackageScratch(storage, pkg.data);
  const uris = [...p.manifest.map((c) => c.uri), ...(p.audio ? [p.audio.uri] : [])];
  for (const u of uris) {
    await storage.remove(u).catch(() => undefined);
    await storage.remove(manifestUri(u)).catch(() => undefined);
  }
  if (isLocalUri(p.scratch)) await rm(localPathOf(p.scratch), { recursive: true, force: true });
}
