// The task kinds, by name: feederd plans with their params and removes a job's scratch with their
// layouts; the worker runs a task with the runner registered under its type (worker/runners.ts).
// Adding a kind: its params schema in params.ts (the message schema checks it), one module here
// beside the others, its entry in KINDS, and its runner in RUNNERS (the compiler asks for both).
import { rm } from 'node:fs/promises';
import type { Storage } from '../ports/storage.js';
import { removePieces } from '../pieces.js';
import { isLocalUri, localPathOf } from '../uri.js';
import { assemble } from './assemble.js';
import { audio } from './audio.js';
import { chunk } from './chunk.js';
import { encode } from './encode.js';
import { extras } from './extras.js';
import type { PlannedKind, TaskKind } from './kind.js';
import type { PlannedObject } from './planned.js';
import { storePlannedObjects } from './plan-objects.js';
export type { PlannedKind } from './kind.js';
import { packageAudio } from './package-audio.js';
import { packageKind } from './package.js';
import type { TaskKindName } from './params.js';
import { renditionChunk } from './rendition-chunk.js';
import { rendition } from './rendition.js';
import { scenes } from './scenes.js';

export const KINDS: { [K in TaskKindName]: TaskKind<K> } = {
  encode,
  chunk,
  audio,
  assemble,
  rendition,
  'rendition-chunk': renditionChunk,
  'package-audio': packageAudio,
  extras,
  package: packageKind,
  scenes,
};

function scratchOf(t: PlannedKind) {
  return t.type in KINDS ? layoutOf(KINDS[t.type], t.params) : null;
}

function layoutOf<K extends TaskKindName>(kind: TaskKind<K>, params: unknown) {
  const r = kind.params.safeParse(params ?? {});
  if (!r.success) return null;
  return {
    uris: kind.scratchUris(r.data),
    more: kind.removeMore ? (s: Storage) => kind.removeMore!(s, r.data) : undefined,
    prefix: kind.scratchPrefix?.(r.data),
    list: (tasks: readonly PlannedKind[]) => kind.restoreList?.(r.data, tasks) ?? null,
  };
}

/**
 * Store again the lists a job's tasks read by reference that are no longer in storage (a failed
 * job's cleanup swept them with its scratch), each made from the job's own tasks: before a retry.
 */
export async function restoreJobLists(storage: Storage, tasks: readonly PlannedKind[]): Promise<void> {
  const lists: PlannedObject[] = [];
  for (const t of tasks) {
    const list = scratchOf(t)?.list(tasks);
    if (list && !(await storage.exists(list.uri).catch(() => false))) lists.push(list);
  }
  await storePlannedObjects(storage, [{ objects: lists }]);
}

/**
 * The last object removeJobScratch removes while anything of the job's scratch is left (the
 * entry of its last piece task), or null when the job leaves none: a sweep that stopped halfway
 * is found by it.
 */
export function lastScratchUri(tasks: readonly PlannedKind[]): string | null {
  const uris = tasks.flatMap((t) => scratchOf(t)?.uris ?? []);
  return uris.length ? `${uris.at(-1)!}.json` : null;
}

/** Where the job's scratch prefix is (from its joining task), if it has one. */
export function scratchPrefixOf(tasks: readonly PlannedKind[]): string | null {
  for (const t of tasks) {
    const p = scratchOf(t)?.prefix;
    if (p) return p;
  }
  return null;
}

/** Remove a job's intermediates, task by task as each kind lays them out, in the tasks' order;
 * then its local scratch directory. */
export async function removeJobScratch(storage: Storage, tasks: readonly PlannedKind[]): Promise<void> {
  for (const t of tasks) {
    const s = scratchOf(t);
    if (!s) continue;
    await s.more?.(storage);
    await removePieces(storage, s.uris);
  }
  const prefix = scratchPrefixOf(tasks);
  if (prefix && isLocalUri(prefix)) await rm(localPathOf(prefix), { recursive: true, force: true });
}
