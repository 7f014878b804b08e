// The watches' routes on feederd's API: add (POST /v1/watches), list (GET /v1/watches), remove
// (DELETE /v1/watches/:id), their bodies and answers as the API's contract has them
// (api/contract.ts). A watch is checked when it is added (the folder is there and readable, or the
// S3 prefix is one jobs may use and its bucket takes the route; the presets resolve; the outputs
// cannot land back in the source). feederd's watcher.ts runs folder watches, prefix-watcher.ts
// takes an S3 watch's events.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createWatchBody, type PublicWatch, type WatchAnswer, type WatchList } from '../api/contract.js';
import { NommerError } from '../errors.js';
import { hasScheme, isS3Uri } from '../uri.js';
import { folderProblem } from './folder-scan.js';
import { validation, type JobCreatorDeps } from './submit-job.js';
import { addWatch } from './store/add-watch.js';
import { removeWatch } from './store/remove-watch.js';
import { getWatch, listWatches, type Watch, type WatchSpec } from './store/watch-rows.js';
import { checkS3Watch, type S3WatchDeps } from './s3-watch.js';
import { outputsOf } from './watch-jobs.js';

/** What clients see of a watch (api/contract.ts). */
export function publicWatch(w: Watch): PublicWatch {
  return {
    id: w.id,
    source: w.spec.source,
    presets: w.spec.presets,
    dest: w.spec.dest,
    set: w.spec.set,
    recursive: w.spec.recursive,
    pattern: w.spec.pattern ?? null,
    state: w.state,
    error: w.error,
    files: w.files,
    createdAt: new Date(w.createdAt).toISOString(),
  };
}

export type WatchRouteDeps = Pick<JobCreatorDeps, 'store' | 'userPresets' | 'defaultPreset'> &
  S3WatchDeps & {
    /** After a watch is added: look at it now rather than at the next rescan. */
    onWatch?: () => void;
  };

const usage = (message: string, hint: string) => new NommerError('USAGE', message, { hint });

const HINTS: Record<string, string> = {
  'folder missing': 'create the folder first, or check the path (it is read by feederd, on its machine)',
  'folder unreadable': 'give the user feederd runs as read and list permission on the folder',
  'not a folder': 'watch the folder the files arrive in',
};

/** A folder watch fit to run: its folder there and readable, its outputs outside it. */
async function checkFolderWatch(spec: WatchSpec): Promise<WatchSpec> {
  if (hasScheme(spec.source) || !isAbsolute(spec.source))
    throw usage(
      `a watched folder must be an absolute path (or, aws backend, s3://bucket/prefix/), got ${JSON.stringify(spec.source)}`,
      'the CLI resolves relative paths',
    );
  if (hasScheme(spec.dest) || !isAbsolute(spec.dest))
    throw usage(
      `a watch's destination must be an absolute folder path, got ${JSON.stringify(spec.dest)}`,
      'give -o DIR',
    );
  const source = resolve(spec.source);
  const dest = resolve(spec.dest);
  const problem = await folderProblem(source);
  if (problem) throw usage(`${problem}: ${source}`, HINTS[problem] ?? 'check the folder');
  await access(source, constants.R_OK | constants.X_OK).catch(() => {
    throw usage(`folder unreadable: ${source}`, HINTS['folder unreadable']!);
  });
  const inside = relative(source, dest);
  if (inside === '' || (spec.recursive && !inside.startsWith('..') && !isAbsolute(inside)))
    throw usage(`outputs in ${dest} would be watched themselves`, 'choose a destination outside the watched folder');
  return { ...spec, source, dest };
}

/** A watch fit to run, of a folder or an S3 prefix, whose presets and overrides resolve as each file's job will. */
async function checkWatch(deps: WatchRouteDeps, spec: WatchSpec): Promise<WatchSpec> {
  const checked = isS3Uri(spec.source)
    ? checkS3Watch(deps, spec, listWatches(deps.store.db))
    : await checkFolderWatch(spec);
  outputsOf(deps, checked, 'probe.mov'); // PRESET_UNKNOWN, OVERRIDE_INVALID
  return checked;
}

export function registerWatchRoutes(app: FastifyInstance, deps: WatchRouteDeps): void {
  const db = deps.store.db;
  app.post('/v1/watches', async (req, reply) => {
    const r = createWatchBody().safeParse(req.body ?? {});
    if (!r.success) throw validation(r.error, 'watch');
    const w = addWatch(db, await checkWatch(deps, r.data));
    // An S3 watch stays stored only once its bucket sends its events (checkS3Watch saw eventRoutes).
    if (isS3Uri(w.spec.source))
      await deps.eventRoutes!.add(w).catch((err) => {
        removeWatch(db, w.id);
        throw err;
      });
    deps.onWatch?.();
    return reply.status(201).send({ watch: publicWatch(w) } satisfies WatchAnswer);
  });
  app.get('/v1/watches', async () => ({ watches: listWatches(db).map(publicWatch) }) satisfies WatchList);
  app.delete<{ Params: { id: string } }>('/v1/watches/:id', async (req) => {
    const found = getWatch(db, req.params.id);
    if (!found)
      throw new NommerError('WATCH_NOT_FOUND', `no watch ${req.params.id}`, {
        hint: 'list watches with `nommer watch list`',
      });
    // An S3 watch's route first: a watch whose bucket still sends events stays listed, to be removed again.
    const removed =
      isS3Uri(found.spec.source) && deps.eventRoutes ? await deps.eventRoutes.remove(found) : removeWatch(db, found.id);
    return { watch: publicWatch(removed ?? found) } satisfies WatchAnswer;
  });
}
