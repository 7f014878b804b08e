// `npm test`'s reporter: node's spec reporter, plus the ten slowest tests with their times and
// every skipped or todo test with its reason, printed just before node's closing summary
// (tests/pass/fail/... lines), so the run still ends with the lines CI reads. One stream rather
// than two reporters writing to stdout, whose outputs would interleave in no fixed order.
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import { spec, type TestEvent } from 'node:test/reporters';

const SHOWN = 10;

// node:test/reporters exports `spec` as a function that constructs node's internal reporter class
// without passing new.target on, so a class extending `spec` itself would get plain spec
// reporters: extend that internal class.
const Spec: typeof spec = Object.getPrototypeOf(new spec()).constructor;

interface Timed {
  name: string;
  file: string;
  ms: number;
  /** Why it did not run (skip or todo), if it did not. */
  notRun?: string;
}

/** The slowest `n` tests, slowest first: seconds, then the file and the test's name. */
export function slowestLines(timed: Timed[], n = SHOWN): string[] {
  const top = timed
    .filter((t) => t.notRun === undefined)
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n);
  if (top.length === 0) return [];
  return [
    `slowest ${top.length} tests:`,
    ...top.map((t) => `${(t.ms / 1000).toFixed(1).padStart(7)} s  ${t.file}  ${t.name}`),
  ];
}

/** Tests that did not run, with why: none may go unnoticed at the end of a long run. */
export function notRunLines(timed: Timed[]): string[] {
  const skipped = timed.filter((t) => t.notRun !== undefined);
  if (skipped.length === 0) return [];
  return [`not run (${skipped.length}):`, ...skipped.map((t) => `  ${t.file}  ${t.name}: ${t.notRun}`)];
}

function reason(flag: string | boolean | undefined, kind: string): string | undefined {
  if (flag === undefined || flag === false) return undefined;
  return flag === true ? kind : `${kind}: ${flag}`;
}

export default class SlowestReporter extends Spec {
  readonly #timed: Timed[] = [];
  readonly #lastNesting = new Map<string, number>();
  #shown = false;

  override _transform(event: TestEvent, encoding: BufferEncoding, callback: (e?: Error | null, out?: string) => void) {
    this.#note(event);
    // node's closing summary begins with the run-wide "tests N" diagnostic (no file: per-file
    // diagnostics carry theirs).
    const summary = event.type === 'test:diagnostic' && !event.data.file && /^tests \d+$/.test(event.data.message);
    if (summary && !this.#shown) {
      this.#shown = true;
      const lines = [...slowestLines(this.#timed), ...notRunLines(this.#timed)];
      if (lines.length > 0) this.push(`\n${lines.join('\n')}\n\n`);
    }
    super._transform(event, encoding, callback);
  }

  /** Leaf tests only: a suite or a test with subtests would list its slowest child's time again. */
  #note(event: TestEvent): void {
    // A file's own run ends with a test:complete named by its path.
    if (event.type === 'test:complete' && event.data.file && event.data.name === event.data.file) {
      this.#fileEnded(event.data.file, event.data.details.duration_ms);
    }
    if (event.type !== 'test:pass' && event.type !== 'test:fail') return;
    const d = event.data;
    if (!d.file || d.name === d.file) return;
    const last = this.#lastNesting.get(d.file) ?? 0;
    this.#lastNesting.set(d.file, d.nesting);
    // A file's events come in order, and a test with subtests is reported right after its last
    // subtest, one level up.
    if (d.nesting < last) return;
    const notRun = reason(d.skip, 'skipped') ?? reason(d.todo, 'todo');
    this.#timed.push({ name: d.name, file: relative(process.cwd(), d.file), ms: d.details.duration_ms, notRun });
  }

  /** With NOMMER_TEST_TIMELINE set, one JSON line per file (start, end, ms) goes to that file: how
   * the files packed onto the run's slots, to see what a run's tail waits for. */
  #fileEnded(file: string, ms: number): void {
    const out = process.env.NOMMER_TEST_TIMELINE;
    if (!out) return;
    const end = Date.now();
    const line = { file: relative(process.cwd(), file), start: Math.round(end - ms), end, ms: Math.round(ms) };
    appendFileSync(out, `${JSON.stringify(line)}\n`);
  }
}
