// The view for scripts (--json while following): one JSON object per line on stdout — {"job": …,
// "event": …} when a job changes (progress-only changes at most every `intervalMs` per job) and
// {"summary": …} when the queue or fleet changes. The command ends with {"jobs": […]}.
import type { Action, ViewState } from './model.js';
import type { LineSink } from './plain.js';
import type { Listener } from './store.js';

export class JsonLinesReporter {
  private readonly stateKey = new Map<string, string>();
  private readonly lastAt = new Map<string, number>();
  private lastSummary = '';

  constructor(
    private readonly out: LineSink,
    private readonly intervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  readonly listener: Listener = (next, _prev, action) => this.show(next, action);

  show(s: ViewState, a: Action): void {
    if (a.type === 'summary') {
      const text = JSON.stringify({ summary: a.summary });
      if (text !== this.lastSummary) {
        this.lastSummary = text;
        this.out.write(`${text}\n`);
      }
      return;
    }
    const jobs = a.type === 'job' ? [a.job] : a.type === 'jobs' ? a.jobs : [];
    for (const j of jobs) {
      if (!s.rows[j.id]) continue;
      const key = `${j.state}/${j.phase ?? ''}/${j.worker ?? ''}/${j.attempt}/${j.outputs.map((o) => o.bytes ?? '').join(',')}`;
      const t = this.now();
      const changed = this.stateKey.get(j.id) !== key;
      const moved = j.state === 'running' && t - (this.lastAt.get(j.id) ?? -Infinity) >= this.intervalMs;
      if (!changed && !moved) continue;
      this.stateKey.set(j.id, key);
      this.lastAt.set(j.id, t);
      const event = a.type === 'job' && a.event && a.event.type !== 'progress' ? a.event : undefined;
      this.out.write(`${JSON.stringify(event ? { job: j, event } : { job: j })}\n`);
    }
  }
}
