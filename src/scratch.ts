// What a chunked job or a package leaves in storage besides its outputs (the pieces under the
// job's scratch prefix, their entries, a package's extras), and a package's own files: where they
// are and removing them. Storage calls only, no encoding code, so feederd's cleanup
// (orchestrator/chunk-cleanup.ts, late-outputs.ts) loads this without the encoders; the worker's
// tasks remove what they leave with the same functions. A whole job's scratch, whatever its kinds,
// is removed through the kinds' layouts (tasks/registry.ts removeJobScratch).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { removePieces } from './pieces.js';
import type { Storage } from './ports/storage.js';
import { extras as extrasKind } from './tasks/extras.js';
import type { JoinParams, PackageParams, PackagePieces } from './tasks/params.js';
import { sceneRecordUri } from './tasks/scenes.js';
import { isLocalUri, localPathOf } from './uri.js';

/** Child of a package directory: a local path, or a key under an s3:// prefix. */
export function packageFileUri(dir: string, name: string): string {
  if (isLocalUri(dir)) return join(localPathOf(dir), name);
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

/** Remove a package's pieces from scratch (after it is committed, or when its job ends otherwise). */
export async function removePackageScratch(
  storage: Storage,
  p: PackageParams,
  renditions: PackagePieces['renditions'],
): Promise<void> {
  await removePieces(storage, [...renditions.map((r) => r.uri), p.audio.uri]);
  await storage.remove(p.pieces.uri).catch(() => undefined);
  await extrasKind.removeMore?.(storage, p.extras);
  await removePieces(storage, [p.extras.uri]);
  if (isLocalUri(p.scratch)) await rm(localPathOf(p.scratch), { recursive: true, force: true });
}

/** Remove a chunked job's intermediates: every piece and manifest entry, and a local scratch directory. */
export async function removeScratch(
  storage: Storage,
  p: Pick<JoinParams, 'manifest' | 'audio' | 'scratch'>,
): Promise<void> {
  await removePieces(storage, [...p.manifest.map((c) => c.uri), ...(p.audio ? [p.audio.uri] : [])]);
  // The scene record, if the job had a scene task (nothing names it on an S3 prefix but its place).
  await storage.remove(sceneRecordUri(p.scratch)).catch(() => undefined);
  if (isLocalUri(p.scratch)) await rm(localPathOf(p.scratch), { recursive: true, force: true });
}
