// The view without a terminal: plain lines from the same state model the Ink view renders — one
// line per change of a job's state, phase or worker, a progress line per job at most every
// `intervalMs`, and notices. Never an escape code, so logs and pipes stay clean.
import { isFinal, type ViewState } from './model.js';
import { plainProgressLine, plainStateLine } from './format.js';
import type { Listener } from './store.js';

export interface LineSink {
  write(text: string): unknown;
}

export class PlainReporter {
  private readonly stateKey = new Map<string, string>();
  private readonly lastProgress = new Map<string, number>();
  private lastNotice: string | null = null;

  constructor(
    private readonly out: LineSink,
    private readonly intervalMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Subscribe this to a ViewStore. */
  readonly listener: Listener = (next) => this.show(next);

  show(s: ViewState): void {
    for (const id of s.order) {
      const j = s.rows[id]!.job;
      const key = `${j.state}/${j.phase ?? ''}/${j.worker ?? ''}/${j.attempt}`;
      if (this.stateKey.get(id) !== key) {
        this.stateKey.set(id, key);
        this.out.write(`${plainStateLine(j)}\n`);
      }
      if (j.state === 'running' && j.phase === 'encoding' && !isFinal(j)) {
        const t = this.now();
        if (t - (this.lastProgress.get(id) ?? -Infinity) >= this.intervalMs) {
          this.lastProgress.set(id, t);
          this.out.write(`${plainProgressLine(j)}\n`);
        }
      }
    }
    const notice = s.notice?.text ?? null;
    if (notice !== this.lastNotice) {
      this.lastNotice = notice;
      if (notice) this.out.write(`${notice}\n`);
    }
  }
}
