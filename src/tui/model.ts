// The state model behind every progress view (Ink, plain lines, JSON lines): a pure reducer from
// job updates, fleet summaries and key presses to rows. No I/O and no clock of its own — the
// views pass `now` when they need elapsed time — so it is unit-tested without a terminal.
import { FINAL_STATES, type JobState } from '../jobs/types.js';
import type { PublicJob, Summary } from '../api/contract.js';

/** What a view needs of a job: the API's job (api/contract.ts), less what no view shows. */
export type JobView = Pick<
  PublicJob,
  | 'id'
  | 'state'
  | 'phase'
  | 'progress'
  | 'fps'
  | 'speed'
  | 'eta'
  | 'attempt'
  | 'maxAttempts'
  | 'input'
  | 'outputs'
  | 'worker'
  | 'error'
  | 'startedAt'
  | 'finishedAt'
>;

/** Queue depth and fleet, as GET /v1/summary gives them. */
export type SummaryView = Pick<Summary, 'queue' | 'fleet'>;

export interface Row {
  job: JobView;
  /** The last history line of the job (e.g. "restarted: worker lost"). */
  event: string | null;
  cancelRequested: boolean;
}

/** Which command shows the view: it decides what `q` and `c` mean and what the footer says. */
export type ViewKind = 'submit' | 'watch' | 'encode';

export interface ViewState {
  kind: ViewKind;
  order: readonly string[];
  rows: Readonly<Record<string, Row>>;
  selected: string | null;
  summary: SummaryView | null;
  /** Job id whose cancel waits for y/n. */
  confirm: string | null;
  notice: { text: string; tone: 'info' | 'error' } | null;
  /** Why the view stopped: the user quit, or every job reached a final state. */
  ended: null | 'quit' | 'done';
}

export type Action =
  | { type: 'job'; job: JobView; event?: { type: string; message: string } | null }
  /** A full listing (status --watch): replaces the rows, in the listing's order. */
  | { type: 'jobs'; jobs: readonly JobView[] }
  | { type: 'summary'; summary: SummaryView }
  | { type: 'select'; delta: number }
  | { type: 'cancel-request' }
  | { type: 'cancel-confirm' }
  | { type: 'cancel-abort' }
  | { type: 'cancel-failed'; id: string; message: string }
  | { type: 'notice'; text: string; tone?: 'info' | 'error' }
  | { type: 'quit' }
  | { type: 'done' };

export function initialState(kind: ViewKind): ViewState {
  return { kind, order: [], rows: {}, selected: null, summary: null, confirm: null, notice: null, ended: null };
}

export const isFinal = (j: Pick<JobView, 'state'>): boolean => FINAL_STATES.has(j.state);

export function reduce(s: ViewState, a: Action): ViewState {
  switch (a.type) {
    case 'job': {
      const prev = s.rows[a.job.id];
      const row: Row = {
        job: a.job,
        event: a.event && a.event.type !== 'progress' ? `${a.event.type}: ${a.event.message}` : (prev?.event ?? null),
        cancelRequested: (prev?.cancelRequested ?? false) && !isFinal(a.job),
      };
      const order = prev ? s.order : [...s.order, a.job.id];
      // The notice about a requested cancel has served once the job is final.
      const notice = prev?.cancelRequested && isFinal(a.job) ? null : s.notice;
      return { ...s, order, rows: { ...s.rows, [a.job.id]: row }, selected: s.selected ?? a.job.id, notice };
    }
    case 'jobs': {
      const rows: Record<string, Row> = {};
      for (const j of a.jobs) {
        const prev = s.rows[j.id];
        rows[j.id] = {
          job: j,
          event: prev?.event ?? null,
          cancelRequested: (prev?.cancelRequested ?? false) && !isFinal(j),
        };
      }
      const order = a.jobs.map((j) => j.id);
      const selected = s.selected && rows[s.selected] ? s.selected : (order[0] ?? null);
      const confirm = s.confirm && rows[s.confirm] && !isFinal(rows[s.confirm]!.job) ? s.confirm : null;
      return { ...s, order, rows, selected, confirm };
    }
    case 'summary':
      return { ...s, summary: a.summary };
    case 'select': {
      if (!s.order.length || s.confirm) return s;
      const i = s.selected ? s.order.indexOf(s.selected) : -1;
      const next = Math.min(s.order.length - 1, Math.max(0, Math.max(i, 0) + a.delta));
      const id = s.order[next]!;
      return id === s.selected ? s : { ...s, selected: id };
    }
    case 'cancel-request': {
      const row = s.selected ? s.rows[s.selected] : undefined;
      if (!row) return s;
      if (isFinal(row.job))
        return {
          ...s,
          notice: { text: `${label(s, row.job)} is already ${row.job.state}: nothing to cancel`, tone: 'info' },
        };
      if (row.cancelRequested) return s;
      return { ...s, confirm: row.job.id, notice: null };
    }
    case 'cancel-confirm': {
      const row = s.confirm ? s.rows[s.confirm] : undefined;
      if (!row) return { ...s, confirm: null };
      return {
        ...s,
        confirm: null,
        rows: { ...s.rows, [row.job.id]: { ...row, cancelRequested: true } },
        notice: { text: `canceling ${label(s, row.job)}…`, tone: 'info' },
      };
    }
    case 'cancel-abort':
      return s.confirm ? { ...s, confirm: null } : s;
    case 'cancel-failed': {
      const row = s.rows[a.id];
      const rows = row ? { ...s.rows, [a.id]: { ...row, cancelRequested: false } } : s.rows;
      return { ...s, rows, notice: { text: `could not cancel ${a.id}: ${a.message}`, tone: 'error' } };
    }
    case 'notice':
      return { ...s, notice: { text: a.text, tone: a.tone ?? 'info' } };
    case 'quit':
      return s.ended ? s : { ...s, ended: 'quit', confirm: null };
    case 'done':
      return s.ended ? s : { ...s, ended: 'done', confirm: null };
  }
}

function label(s: ViewState, j: JobView): string {
  return s.kind === 'encode' ? 'the encode' : j.id;
}

/** The keys a view understands (a subset of Ink's Key). */
export interface KeyPress {
  upArrow?: boolean;
  downArrow?: boolean;
  escape?: boolean;
  return?: boolean;
  ctrl?: boolean;
}

/** Maps a key press to an action, or null when the key means nothing now. */
export function keyAction(s: ViewState, input: string, key: KeyPress): Action | null {
  if (s.ended) return null;
  if (key.ctrl && input === 'c') return { type: 'quit' };
  if (s.confirm) {
    if (input === 'y' || input === 'Y') return { type: 'cancel-confirm' };
    if (input === 'n' || input === 'N' || input === 'q' || key.escape || key.return) return { type: 'cancel-abort' };
    return null;
  }
  if (key.upArrow || input === 'k') return { type: 'select', delta: -1 };
  if (key.downArrow || input === 'j') return { type: 'select', delta: 1 };
  if (input === 'c') return { type: 'cancel-request' };
  if (input === 'q') return { type: 'quit' };
  return null;
}

export const allFinal = (s: ViewState): boolean =>
  s.order.length > 0 && s.order.every((id) => isFinal(s.rows[id]!.job));

/** 0 only when there is at least one job and every one succeeded. */
export const exitCodeOf = (s: ViewState): number =>
  s.order.length > 0 && s.order.every((id) => s.rows[id]!.job.state === 'succeeded') ? 0 : 1;

export const jobsOf = (s: ViewState): JobView[] => s.order.map((id) => s.rows[id]!.job);

export function countByState(s: ViewState): Partial<Record<JobState, number>> {
  const out: Partial<Record<JobState, number>> = {};
  for (const id of s.order) {
    const st = s.rows[id]!.job.state;
    out[st] = (out[st] ?? 0) + 1;
  }
  return out;
}

/**
 * Workers busy / idle / booting. The fleet lists booting and running workers; which running ones
 * are busy is given per worker when the backend knows, else estimated from the tasks in flight.
 */
export function fleetCounts(summary: SummaryView): { busy: number; idle: number; booting: number } {
  const booting = summary.fleet.filter((w) => w.state === 'booting').length;
  const up = summary.fleet.filter((w) => w.state === 'running');
  const busy = up.some((w) => w.busy !== undefined)
    ? up.filter((w) => w.busy).length
    : Math.min(up.length, Math.max(0, summary.queue.inFlight));
  return { busy, idle: up.length - busy, booting };
}

/** Seconds the job has run (to its end when final), or undefined before it starts. */
export function elapsedSeconds(j: JobView, now: number): number | undefined {
  if (!j.startedAt) return undefined;
  const end = j.finishedAt ? Date.parse(j.finishedAt) : now;
  return Math.max(0, (end - Date.parse(j.startedAt)) / 1000);
}
