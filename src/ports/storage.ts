// Port: where inputs come from and outputs go. Local: file paths and file:// URIs;
// aws: s3://bucket/key. Both read http(s):// inputs.
//
// An output is written in three steps, all owned by the adapter: prepareOutput gives the path
// ffmpeg writes to (a hidden temp name beside the destination, or a scratch file bound for S3),
// unique to one delivery of one task; commit puts it in place whole (no-replace rename, or a
// completed upload); discard removes it. So two deliveries of one task never touch each other's
// file, and whether an output "exists" is decided in one place (checkOutput) for the CLI's early
// check and the worker alike.

export interface StoreResult {
  uri: string;
  bytes: number;
}

/** An output that is in place, with a way back for an all-or-none commit of several. */
export interface Committed extends StoreResult {
  /** Put back what was there before (or remove the new file): locally a kept hard link, on S3 a kept copy. */
  undo(): Promise<void>;
  /** Forget the way back (remove any backup kept for undo). */
  finish(): Promise<void>;
}

export interface PreparedOutput {
  readonly uri: string;
  /** Where ffmpeg writes the output: private to this delivery. */
  readonly path: string;
  /** Put the written file at uri. Without overwrite, never replaces a file that appeared meanwhile. */
  commit(opts?: { signal?: AbortSignal }): Promise<Committed>;
  /** Remove what was written (idempotent; after a commit, a no-op). */
  discard(): Promise<void>;
}

/** What a stored file is now, to tell it from a file that replaced it (late-outputs.ts). */
export interface FileIdentity {
  bytes: number;
  /** Last modified, ms since the epoch (to the second on S3). */
  modifiedMs: number;
  /** Locally the inode and device; on S3 the ETag. */
  tag: string;
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.tag === b.tag && a.bytes === b.bytes && a.modifiedMs === b.modifiedMs;
}

export interface PrepareOptions {
  overwrite: boolean;
  /** Names this delivery in the temp name (logs, sweeping); made unique by the adapter. */
  tag?: string;
  /** Scratch directory for adapters whose outputs are not local files. */
  scratchDir: string;
}

export interface Storage {
  /** True when this adapter handles the URI (scheme check only). */
  handles(uri: string): boolean;
  /**
   * Make the input available as a local file. Local files are returned in place (no copy);
   * remote ones are downloaded into destDir. onBytes reports download progress.
   */
  fetch(
    uri: string,
    destDir: string,
    opts?: { signal?: AbortSignal; onBytes?: (done: number, total?: number) => void },
  ): Promise<string>;
  /** Copy a finished local file to uri atomically (staging an input, a release, a manifest entry). */
  store(localFile: string, uri: string, opts?: { overwrite?: boolean; signal?: AbortSignal }): Promise<StoreResult>;
  /** Throws OUTPUT_EXISTS / OUTPUT_UNWRITABLE / USAGE when uri cannot take an output now. */
  checkOutput(uri: string, opts: { overwrite: boolean }): Promise<void>;
  prepareOutput(uri: string, opts: PrepareOptions): Promise<PreparedOutput>;
  exists(uri: string): Promise<boolean>;
  remove(uri: string): Promise<void>;
  /** The file at uri as it is now, or null when there is none. */
  identify?(uri: string): Promise<FileIdentity | null>;
  /** Remove uri only while it is still the file `expected` names; false (kept) when it is not. */
  removeIfSame?(uri: string, expected: FileIdentity): Promise<boolean>;
}

/**
 * Commit several outputs all or none: in order, and when one fails, the ones already in place
 * are undone (newest first) before the error is thrown. Uncommitted ones are discarded.
 */
export async function commitAll(
  outputs: readonly PreparedOutput[],
  opts: { signal?: AbortSignal } = {},
): Promise<StoreResult[]> {
  const set = await commitAllUndoable(outputs, opts);
  await set.finish();
  return set.results;
}

/** Outputs in place, with the way back kept until the caller knows whether they stand. */
export interface CommittedSet {
  readonly results: StoreResult[];
  /** Take them all back, newest first (the task's end could not be reported). Throws the first failure after trying all. */
  undo(): Promise<void>;
  /** They stand: forget the way back (never throws). */
  finish(): Promise<void>;
}

/**
 * commitAll that keeps the way back: a worker commits, then reports, and takes the outputs back
 * when the report cannot get through (the delivery that runs the task again must find the
 * destinations as they were, or it fails OUTPUT_EXISTS on the task's own output).
 */
export async function commitAllUndoable(
  outputs: readonly PreparedOutput[],
  opts: { signal?: AbortSignal } = {},
): Promise<CommittedSet> {
  const done: Committed[] = [];
  try {
    for (const o of outputs) done.push(await o.commit(opts));
  } catch (err) {
    for (const c of [...done].reverse()) await c.undo().catch(() => undefined);
    await Promise.all(outputs.map((o) => o.discard().catch(() => undefined)));
    throw err;
  }
  return {
    results: done.map((c) => ({ uri: c.uri, bytes: c.bytes })),
    undo: async () => {
      let first: unknown;
      for (const c of [...done].reverse())
        await c.undo().catch((err) => {
          first ??= err;
        });
      if (first !== undefined) throw first;
    },
    finish: async () => {
      await Promise.all(done.map((c) => c.finish().catch(() => undefined)));
    },
  };
}

/** Discard every prepared output (on failure or cancel); never throws. */
export async function discardAll(outputs: readonly PreparedOutput[]): Promise<void> {
  await Promise.all(outputs.map((o) => o.discard().catch(() => undefined)));
}
