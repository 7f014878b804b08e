// The piece protocol, written once for every kind that leaves a piece in a job's scratch prefix
// (a chunked job's video chunks and audio, a package's renditions, audio and extras):
// - a piece task stores its piece, THEN the entry that vouches for it at `<uri>.json` (what it
//   measured, its SHA-256), so an entry never names a piece not yet there;
// - the task that uses the pieces fetches both, parses the entry with its kind's schema and checks
//   the checksum; a piece that is missing, whose entry is missing or fails its schema, or whose
//   bytes differ is unusable, and the caller makes it again (never drops it).
import { randomUUID } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as z from 'zod';
import { NommerError, asNommerError } from './errors.js';
import { sha256File } from './hash.js';
import type { Storage } from './ports/storage.js';

/** Where a piece's entry is stored: beside it. */
export function entryUri(pieceUri: string): string {
  return `${pieceUri}.json`;
}

/** What storing a piece needs from a task's context. */
export interface PieceSink {
  storage: Storage;
  /** A private local directory for the entry's file. */
  scratch: string;
  signal?: AbortSignal;
  /** Throws when the attempt is no longer current (checked before anything is stored). */
  beforeCommit: () => Promise<void>;
}

/** Store a piece (none for an entry that stands alone: a skipped rung, no audio), then its entry. */
export async function storePiece<T>(sink: PieceSink, local: string | null, uri: string, entry: T): Promise<void> {
  await sink.beforeCommit();
  if (local) await sink.storage.store(local, uri, { overwrite: true, signal: sink.signal });
  const side = join(sink.scratch, `entry-${randomUUID()}.json`);
  await writeFile(side, JSON.stringify(entry));
  await sink.storage.store(side, entryUri(uri), { overwrite: true, signal: sink.signal });
}

/** An object fetched into dir, or null when it is not there (a cancel still throws). */
export async function tryFetch(
  storage: Storage,
  uri: string,
  dir: string,
  signal?: AbortSignal,
): Promise<string | null> {
  try {
    const p = await storage.fetch(uri, dir, { signal });
    return (await stat(p).catch(() => undefined)) ? p : null;
  } catch (err) {
    const e = asNommerError(err);
    if (e.code === 'CANCELED') throw e;
    return null;
  }
}

/** A JSON object fetched from storage and checked against its schema; null when missing or invalid. */
export async function fetchRecord<S extends z.ZodType>(
  storage: Storage,
  uri: string,
  schema: S,
  dir: string,
  signal?: AbortSignal,
): Promise<z.infer<S> | null> {
  const file = await tryFetch(storage, uri, dir, signal);
  if (!file) return null;
  try {
    const r = schema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * An object a message names by reference (its URI and SHA-256), fetched, checked and parsed. It
 * was stored before the task was queued: missing is a storage failure (retriable), different
 * bytes or a failing schema are not.
 */
export async function fetchPinned<S extends z.ZodType>(
  storage: Storage,
  ref: { uri: string; sha256: string },
  schema: S,
  dir: string,
  signal?: AbortSignal,
): Promise<z.infer<S>> {
  const file = await tryFetch(storage, ref.uri, dir, signal);
  if (!file)
    throw new NommerError('STORAGE_FAILED', `${ref.uri} is missing`, {
      retriable: true,
      hint: "it is stored with the job's plan; a retry of the job plans it again",
    });
  if ((await sha256File(file)) !== ref.sha256)
    throw new NommerError('INTERNAL', `${ref.uri} is not the object its task names (SHA-256 differs)`);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    throw new NommerError('INTERNAL', `${ref.uri} is not JSON`);
  }
  const r = schema.safeParse(value);
  if (!r.success) throw new NommerError('INTERNAL', `${ref.uri} is not what its task expects: ${r.error.message}`);
  return r.data;
}

/** A piece's entry, parsed with its schema; null when missing or not of that schema. */
export function readEntry<S extends z.ZodType>(
  storage: Storage,
  uri: string,
  schema: S,
  dir: string,
  signal?: AbortSignal,
): Promise<z.infer<S> | null> {
  return fetchRecord(storage, entryUri(uri), schema, dir, signal);
}

export type LoadedPiece<E> = { entry: E; path: string | null } | { why: string };

/**
 * A piece as its entry vouches for it, or why it cannot be used. `sha256Of` gives the checksum
 * the entry vouches for, or null when it vouches for no file (a skipped rung, no audio).
 */
export async function loadPiece<S extends z.ZodType>(
  storage: Storage,
  uri: string,
  schema: S,
  dir: string,
  sha256Of: (entry: z.infer<S>) => string | null,
  signal?: AbortSignal,
): Promise<LoadedPiece<z.infer<S>>> {
  const entry = await readEntry(storage, uri, schema, dir, signal);
  if (!entry) return { why: 'its manifest entry is missing, unreadable or not what its task writes' };
  const sum = sha256Of(entry);
  if (sum === null) return { entry, path: null };
  const path = await tryFetch(storage, uri, dir, signal);
  if (!path) return { why: 'missing' };
  if (sum !== (await sha256File(path))) return { why: 'checksum differs from what its task reported' };
  return { entry, path };
}

/** Remove pieces and their entries (best effort: what is gone already is fine). */
export async function removePieces(storage: Storage, uris: readonly string[]): Promise<void> {
  for (const u of uris) {
    await storage.remove(u).catch(() => undefined);
    await storage.remove(entryUri(u)).catch(() => undefined);
  }
}
