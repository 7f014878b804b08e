// replaceChunks: a chunked job's keyframe chunks and join, replaced by the plan its scene task made
// (orchestrator/scene-replan.ts), in the transaction that applies the scene task's success: no
// chunk of the old plan is ever dispatched (each waited for the scene task), and the job is never
// seen without a join to wait for.
import type { Db } from '../../adapters/local/db.js';
import { checkTaskGraph } from '../../jobs/state.js';
import { insertTasks } from './create-job.js';
import { taskId } from './ids.js';
import { readJob, readTasks, sql } from './rows.js';
import type { ChunkingDecision } from './job-options.js';
import type { Job, NewTask } from './types.js';

export interface ChunkReplan {
  /** The scene task whose success this follows (its id). */
  after: string;
  /** The new chunks and join (keys chunk-NNN and assemble); the job's other tasks stay. */
  tasks: NewTask[]; // none: the plan stands (detection failed), only the options change
  /** The job's audio task is replaced too (a remote input's, which waited for the scene task). */
  replaceAudio?: boolean;
  /** What the job's options say of the plan now. */
  chunking: Partial<Extract<ChunkingDecision, { timeline: unknown }>>;
}

const REPLACED = new Set(['chunk', 'assemble']);
const REPLACED_WITH_AUDIO = new Set([...REPLACED, 'audio']);

/** Replace the chunks if the scene task has just succeeded and no chunk has left; true when done. */
export function replaceChunks(db: Db, jobId: string, r: ChunkReplan, now: number): boolean {
  const job = readJob(db, jobId);
  const tasks = readTasks(db, jobId);
  if (!job || tasks.find((t) => t.id === r.after)?.state !== 'succeeded') return false;
  if (!r.tasks.length) {
    saveChunking(db, job, r);
    return false;
  }
  const replaced = r.replaceAudio ? REPLACED_WITH_AUDIO : REPLACED;
  const old = tasks.filter((t) => replaced.has(t.type));
  if (old.some((t) => t.state !== 'queued' && t.state !== 'waiting') || old.some((t) => t.dispatchedAttempt > 0))
    return false;
  const kept = tasks.filter((t) => !replaced.has(t.type));
  const graph = [
    ...kept.map((t) => ({ id: t.id, deps: t.deps })),
    ...r.tasks.map((t) => ({ id: taskId(jobId, t.key), deps: (t.deps ?? []).map((d) => taskId(jobId, d)) })),
  ];
  if (checkTaskGraph(graph)) return false;
  const del = sql(db, 'DELETE FROM tasks WHERE id = ?');
  for (const t of old) del.run(t.id);
  // At the attempt of the tasks they replace: after a cancel and retry that is above 1, and the
  // fence the cancel raised voids any lower attempt (the new chunks were dropped unrun, the job stuck).
  const attempt = Math.max(1, ...old.map((t) => t.attempt));
  insertTasks(db, job, r.tasks, now, new Set(kept.filter((t) => t.state === 'succeeded').map((t) => t.id)), attempt);
  saveChunking(db, job, r);
  return true;
}

function saveChunking(db: Db, job: Job, r: ChunkReplan): void {
  const chunking = job.options.chunking;
  if (!chunking || !('timeline' in chunking)) return;
  const options = { ...job.options, chunking: { ...chunking, ...r.chunking } };
  sql(db, 'UPDATE jobs SET options = ? WHERE id = ?').run(JSON.stringify(options), job.id);
}
