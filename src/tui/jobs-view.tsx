// The live view: one row per job (and one line per output where a job has several), then a footer
// with the queue and the fleet and what the keys do. It only renders the state it is given; the
// reducer in model.ts owns every decision. Few nodes per row, so a redraw stays cheap.
import { Box, Text } from 'ink';
import { allFinal, countByState, isFinal, type Row, type ViewState } from './model.js';
import { bar, errorText, fleetText, inputName, outputText, percent, rates, stateLabel } from './format.js';

const STATE_COLOR: Record<string, string> = {
  queued: 'gray',
  running: 'cyan',
  succeeded: 'green',
  failed: 'red',
  canceled: 'yellow',
};

export interface JobsViewProps {
  state: ViewState;
  /** Wall-clock time for elapsed columns (ms since the epoch). */
  now: number;
  /** Width of the progress bar in cells. */
  barWidth?: number;
  /** Terminal rows: jobs beyond them are summed up as "… more" (default: no limit). */
  height?: number;
}

function JobRow({
  row,
  selected,
  now,
  barWidth,
  nameWidth,
  showId,
}: {
  row: Row;
  selected: boolean;
  now: number;
  barWidth: number;
  nameWidth: number;
  showId: boolean;
}) {
  const j = row.job;
  const r = rates(j, now);
  const fraction = j.state === 'succeeded' ? 1 : j.progress;
  const color = STATE_COLOR[j.state];
  // Fixed-width columns so several jobs line up; what is unknown is blank.
  const facts = `${percent(fraction).padStart(4)}  ${r.fps.padStart(7)}  ${r.speed.padStart(5)}  ${r.elapsed.padStart(5)}  ${r.eta.padEnd(9)}`;
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text color={selected ? 'cyan' : undefined} bold={selected}>
          {selected ? '› ' : '  '}
          {fit(inputName(j), nameWidth)}
        </Text>
        {'  '}
        <Text color={color}>
          {stateLabel(j).padEnd(11)} {bar(fraction, barWidth)}
        </Text>
        {` ${facts}`}
        <Text color="gray">
          {j.worker && j.state === 'running' ? `  ${j.worker}` : ''}
          {showId ? `  ${j.id}` : ''}
        </Text>
        {row.cancelRequested ? <Text color="yellow"> canceling…</Text> : ''}
      </Text>
      {detailLines(row).map((l, i) => (
        <Text key={i} color={l.color} wrap="truncate-end">
          {l.text}
        </Text>
      ))}
    </Box>
  );
}

/** Pads or shortens (keeping both ends, which tell files apart) to exactly `width` cells. */
export function fit(text: string, width: number): string {
  if (text.length <= width) return text.padEnd(width);
  const head = Math.ceil((width - 1) / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (width - 1 - head))}`;
}

/**
 * The lines under a job's row. Finished: where each output went and how big it is, or the error
 * in red. Running: the outputs only when there are several, so a one-output job stays one line.
 */
export function detailLines(row: Row): Array<{ text: string; color?: string }> {
  const j = row.job;
  const out: Array<{ text: string; color?: string }> = [];
  if (j.state === 'succeeded') for (const o of j.outputs) out.push({ text: `    → ${outputText(o)}`, color: 'green' });
  else if (j.outputs.length > 1 && !isFinal(j))
    for (const [i, o] of j.outputs.entries())
      out.push({ text: `    ${i === j.outputs.length - 1 ? '└' : '├'} ${o.preset}: ${o.uri}`, color: 'gray' });
  if (j.state === 'failed' || (j.state === 'canceled' && j.error))
    out.push({ text: `    ✗ ${errorText(j)}`, color: 'red' });
  if (j.state === 'queued' && j.attempt > 1 && row.event) out.push({ text: `    ${row.event}`, color: 'gray' });
  return out;
}

/**
 * Which jobs fit in `height` lines: all when they do, else a run of whole jobs that holds the
 * selected one (so the terminal never scrolls, which would make Ink clear it on every frame).
 */
export function visibleJobs(state: ViewState, height: number): { ids: string[]; above: number; below: number } {
  const h = state.order.map((id) => 1 + detailLines(state.rows[id]!).length);
  const total = h.reduce((a, b) => a + b, 0);
  if (total <= height) return { ids: [...state.order], above: 0, below: 0 };
  const budget = Math.max(1, height - 2); // room for the "… more" lines
  const sel = Math.max(0, state.selected ? state.order.indexOf(state.selected) : 0);
  let start = sel,
    end = sel + 1,
    used = h[sel]!;
  while (end < h.length && used + h[end]! <= budget) used += h[end++]!;
  while (start > 0 && used + h[start - 1]! <= budget) used += h[--start]!;
  return { ids: state.order.slice(start, end), above: start, below: state.order.length - end };
}

function Header({ state }: { state: ViewState }) {
  const by = countByState(state);
  const counts = (['running', 'queued', 'succeeded', 'failed', 'canceled'] as const)
    .filter((k) => by[k])
    .map((k) => `${by[k]} ${k}`)
    .join(', ');
  const what =
    state.kind === 'encode'
      ? 'encoding on this machine'
      : state.kind === 'watch'
        ? `watching ${state.order.length} job${state.order.length === 1 ? '' : 's'}`
        : `following ${state.order.length} job${state.order.length === 1 ? '' : 's'}`;
  return (
    <Text bold wrap="truncate-end">{`nommer · ${what}${counts && state.kind !== 'encode' ? `: ${counts}` : ''}`}</Text>
  );
}

function Footer({ state }: { state: ViewState }) {
  const lines: Array<{ text: string; color?: string }> = [];
  // Once the view ended the fleet line would be stale: it is left out of the last frame.
  if (state.summary && state.kind !== 'encode' && !state.ended)
    lines.push({ text: fleetText(state.summary), color: 'gray' });
  if (state.notice) lines.push({ text: state.notice.text, color: state.notice.tone === 'error' ? 'red' : 'yellow' });
  if (state.confirm) {
    lines.push({
      text:
        state.kind === 'encode'
          ? 'Cancel the encode? Nothing partial is kept. [y/N]'
          : `Cancel job ${state.confirm}? [y/N]`,
      color: 'yellow',
    });
  } else if (state.ended === 'quit') {
    const text =
      state.kind === 'encode'
        ? allFinal(state)
          ? 'encode canceled'
          : 'canceling the encode…'
        : state.kind === 'watch'
          ? 'stopped watching'
          : 'stopped following; the jobs keep running (see `nommer status`)';
    lines.push({ text, color: 'yellow' });
  } else if (state.ended === 'done') {
    const ok = state.order.every((id) => state.rows[id]!.job.state === 'succeeded');
    const n = state.order.length;
    lines.push(
      ok
        ? { text: n === 1 ? 'done' : `all ${n} jobs succeeded`, color: 'green' }
        : { text: 'finished, not all succeeded', color: 'red' },
    );
  } else {
    const keys =
      state.kind === 'encode'
        ? 'c cancel   q / Ctrl-C cancel the encode and quit (no daemon runs it)'
        : `↑/↓ select   c cancel selected   q quit${state.kind === 'submit' ? ' (the jobs keep running)' : ''}`;
    lines.push({ text: keys, color: 'gray' });
  }
  return (
    <>
      {lines.map((l, i) => (
        <Text key={i} color={l.color} wrap="truncate-end">
          {l.text}
        </Text>
      ))}
    </>
  );
}

export function JobsView({ state, now, barWidth = 24, height = Infinity }: JobsViewProps) {
  const showId = state.kind !== 'encode';
  const nameWidth = Math.min(24, Math.max(8, ...state.order.map((id) => inputName(state.rows[id]!.job).length)));
  // Header and footer take up to 4 lines, and one more stays free for the cursor.
  const shown = visibleJobs(state, height - 5);
  return (
    <Box flexDirection="column">
      <Header state={state} />
      {state.order.length === 0 ? <Text color="gray">no jobs yet</Text> : null}
      {shown.above ? <Text color="gray">{`  ↑ ${shown.above} more`}</Text> : null}
      {shown.ids.map((id) => (
        <JobRow
          key={id}
          row={state.rows[id]!}
          selected={state.order.length > 1 && id === state.selected}
          now={now}
          barWidth={barWidth}
          nameWidth={nameWidth}
          showId={showId}
        />
      ))}
      {shown.below ? <Text color="gray">{`  ↓ ${shown.below} more`}</Text> : null}
      <Footer state={state} />
    </Box>
  );
}
