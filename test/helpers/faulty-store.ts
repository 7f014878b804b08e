// A real job store whose applyStatusEvent throws for the events a test picks: fault injection
// for the status applier without mocking SQLite.
import type { Db } from '../../src/adapters/local/db.js';
import type { StatusEvent } from '../../src/messages.js';
import { Store, type StatusResult } from '../../src/orchestrator/store/index.js';

export /** A real store whose applyStatusEvent throws for the events `fault` picks (while it says so). */
class FaultyStore extends Store {
  calls = new Map<string, number>();
  constructor(
    db: Db,
    private readonly fault: (ev: StatusEvent, call: number) => Error | undefined,
  ) {
    super(db);
  }
  override applyStatusEvent(ev: StatusEvent, now?: number): StatusResult {
    const key = `${ev.jobId}#${ev.seq}`;
    const call = (this.calls.get(key) ?? 0) + 1;
    this.calls.set(key, call);
    const err = this.fault(ev, call);
    if (err) throw err;
    return super.applyStatusEvent(ev, now);
  }
}
