// `nommer status [ID]`: jobs present and past, fleet and queue at a glance; one job in detail.
// With no feederd running it reads the data dir's store directly, read-only (client/offline.ts):
// past jobs are always visible.
import type { Command } from 'commander';
import { action, intOption } from '../cli/context.js';
import { formatDuration, printJson } from '../cli/output.js';
import { formatUsd } from '../api/format.js';
import { requireFeederd } from '../client/connect.js';
import { findRunning } from '../client/daemon.js';
import type { JobDetailView as Detail, JobPage, PublicJob, Summary as ApiSummary } from '../api/contract.js';
import { outputText, packageLines } from '../tui/format.js';
import { loudnessText } from '../api/format.js';
import { chooseOutputMode } from '../tui/output-mode.js';
import { watchJobsView } from '../tui/watch-jobs.js';
import { NommerError } from '../errors.js';
import { compareCost, comparisonLines, type CostComparison } from '../cost/compare.js';
import type { ReferencePrice } from '../fleet/prices.js';

/** feederd's summary; read from the store alone (no feederd), only the jobs'. */
type Summary = Pick<ApiSummary, 'jobs'> & Partial<ApiSummary>;

/** `12.3 worker-s, $0.0012 (basis)`; the dollars only when there is a price. */
function costLine(c: { workerSeconds: number; usd: number | null; basis: string }): string {
  const usd = c.usd === null ? '' : `, ${formatUsd(c.usd)}`;
  return `cost      ${c.workerSeconds.toFixed(1)} worker-s${usd}  (${c.basis})`;
}

/** The job's cost next to hosted transcoders' list prices (cost.referencePrices); null until it has output minutes and dollars. */
function comparisonOf(d: Detail, references: readonly ReferencePrice[]): CostComparison | null {
  return d.job.cost ? compareCost(d.job.cost, references) : null;
}

/** `status ID --json`: the job's detail, plus `costComparison` (null when there is nothing to compare yet). */
function detailJson(
  d: Detail,
  references: readonly ReferencePrice[],
): Detail & { costComparison: CostComparison | null } {
  return { ...d, costComparison: comparisonOf(d, references) };
}

function detailLines(d: Detail, references: readonly ReferencePrice[]): string[] {
  const j = d.job;
  const comparison = comparisonOf(d, references);
  return [
    `job       ${j.id}`,
    `state     ${j.state}${j.phase ? ` (${j.phase})` : ''}${j.state === 'running' ? ` ${Math.round(j.progress * 100)}%` : ''}  attempt ${j.attempt}/${j.maxAttempts}`,
    `input     ${j.input}`,
    ...j.outputs.flatMap((o, i) => [
      `${i === 0 ? 'outputs' : '       '}   ${outputText(o)}`,
      ...packageLines(o).map((l) => `            ${l}`),
      ...(o.loudness ? [`            loudness ${loudnessText(o.loudness)}`] : []),
    ]),
    `created   ${j.createdAt}`,
    ...(j.startedAt ? [`started   ${j.startedAt}${j.worker ? ` on ${j.worker}` : ''}`] : []),
    ...(j.finishedAt ? [`finished  ${j.finishedAt}`] : []),
    ...(j.error ? [`error     ${j.error.code}: ${j.error.message}${j.error.retriable ? ' (retriable)' : ''}`] : []),
    ...(j.cost ? [costLine(j.cost)] : []),
    ...chunkLines(j.chunks),
    ...(comparison ? comparisonLines(comparison) : []),
    ...(d.delivery
      ? [
          `delivery  ${d.delivery.state}${d.delivery.state === 'failed' ? `: ${d.delivery.error}` : ` to ${d.delivery.to.join(', ')}`}`,
        ]
      : []),
    'events:',
    ...d.events.map((e) => `  ${e.at}  ${e.type.padEnd(10)} ${e.message}`),
  ];
}

const CHUNK_LINES = 20;

/** A chunked job's plan: a line per chunk (the first 20; --json has them all). */
function chunkLines(chunks: Detail['job']['chunks']): string[] {
  if (!chunks?.length) return [];
  const atCuts = chunks.filter((c) => c.sceneCut).length;
  return [
    `chunks    ${chunks.length}, ${atCuts} starting on a scene cut`,
    ...chunks
      .slice(0, CHUNK_LINES)
      .map(
        (c, i) =>
          `            #${String(i).padEnd(4)} ${`${c.start.toFixed(3)} s`.padStart(12)}  ${String(c.frames).padStart(6)} frames${c.sceneCut ? '  scene cut' : ''}`,
      ),
    ...(chunks.length > CHUNK_LINES ? [`            … ${chunks.length - CHUNK_LINES} more (status --json)`] : []),
  ];
}

function listLines(page: JobPage, summary: Summary): string[] {
  const out: string[] = [];
  if (page.jobs.length)
    out.push(table([['ID', 'STATE', 'PROGRESS', 'PRESETS', 'INPUT', 'AGE', 'TOOK'], ...page.jobs.map(row)]));
  else out.push('no jobs yet: try `nommer submit FILE`');
  const by = summary.jobs.byState;
  out.push('');
  out.push(
    `jobs: ${summary.jobs.total} (${
      Object.entries(by)
        .filter(([, n]) => n)
        .map(([s, n]) => `${n} ${s}`)
        .join(', ') || 'none'
    })`,
  );
  if (summary.queue && summary.fleet)
    out.push(
      `queue: ${summary.queue.waiting} waiting, ${summary.queue.inFlight} in flight   workers: ${summary.fleet.length}${summary.fleet.length ? ` (${summary.fleet.map((w) => w.state).join(', ')})` : ''}`,
    );
  else out.push('feederd is not running (jobs read from the store): start it with `nommer feederd --daemon`');
  if (summary.heldBack)
    out.push(
      `fleet held back by ${summary.heldBack.by === 'maxHourlySpend' ? 'the spend cap (aws.ec2.maxHourlySpend)' : 'aws.ec2.maxInstances'}: ${summary.heldBack.reason}`,
    );
  return out;
}

interface Flags {
  state?: string;
  limit: number;
  api?: string;
  cursor?: string;
  watch?: boolean;
}

function age(iso: string | null, now = Date.now()): string {
  return iso ? formatDuration((now - Date.parse(iso)) / 1000) : '-';
}

function row(j: PublicJob): string[] {
  const took = j.startedAt
    ? formatDuration(((j.finishedAt ? Date.parse(j.finishedAt) : Date.now()) - Date.parse(j.startedAt)) / 1000)
    : '-';
  const progress = j.state === 'running' ? `${Math.round(j.progress * 100)}%` : j.state === 'succeeded' ? '100%' : '';
  const state =
    j.state === 'running' && j.phase
      ? `running:${j.phase}`
      : j.state === 'failed' && j.error
        ? `failed:${j.error.code}`
        : j.state;
  return [j.id, state, progress, j.outputs.map((o) => o.preset).join(','), j.input, age(j.createdAt), took];
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .summary('jobs, queue and workers at a glance; one job in detail')
    .description(
      "Without an ID: recent jobs (newest first) and the queue/fleet summary.\nWith an ID: the job in full, with its event history.\nWith no feederd running, jobs are read from the data dir's store (read-only).",
    )
    .argument('[id]', 'a job id')
    .option('--state <states>', 'only these states (comma-separated): queued,running,succeeded,failed,canceled')
    .option('-n, --limit <n>', 'how many jobs', intOption('--limit', 1, 1000), 20)
    .option('--cursor <c>', 'next page (from --json nextCursor)')
    .option('-w, --watch', 'keep showing them, live (q quits; c cancels the selected job); see below')
    .option('--api <url>', 'feederd address')
    .addHelpText(
      'after',
      `
With --watch: on a terminal a live view (↑/↓ select, c cancel, q quit), refreshed every second;
otherwise a plain line per change (progress every few seconds) until interrupted, or with --json
one JSON object per line: {"job": …} per change and {"summary": …} when the queue or fleet changes.

With an ID, a job with measured outputs shows its cost per output minute next to hosted
transcoders' list prices for the same minutes (SD below 720 lines, HD from 720), with their
source and date; update them in config under cost.referencePrices. --json has it as
costComparison.

Examples:
  $ nommer status
  $ nommer status --watch
  $ nommer status --state failed --json
  $ nommer status j_01HZX...`,
    )
    .action(
      action(async (ctx, id: string | undefined, flags: Flags) => {
        const loaded = await ctx.config();
        const running = flags.api || flags.watch ? null : await findRunning(loaded);
        const refs = loaded.config.cost.referencePrices;
        if (!running && !flags.api && !flags.watch)
          return offlineStatus(loaded.home, id, flags, !!ctx.global.json, refs);
        const client = running ?? (await requireFeederd(loaded, flags.api));
        if (flags.watch)
          return watchJobsView({
            client,
            mode: chooseOutputMode(ctx.global),
            id,
            state: flags.state,
            limit: flags.limit,
          });
        if (id) {
          const d = await client.getJob(id);
          if (ctx.global.json) printJson(detailJson(d, refs));
          else process.stdout.write(`${detailLines(d, refs).join('\n')}\n`);
          return 0;
        }
        const [page, summary] = await Promise.all([
          client.listJobs({ limit: flags.limit, state: flags.state, cursor: flags.cursor }),
          client.summary(),
        ]);
        if (ctx.global.json) {
          printJson({ jobs: page.jobs, nextCursor: page.nextCursor, summary });
          return 0;
        }
        const out = listLines(page, summary);
        if (page.nextCursor) out.push(`more: nommer status --cursor ${page.nextCursor}`);
        process.stdout.write(`${out.join('\n')}\n`);
        return 0;
      }),
    );
}

/** No feederd: the store, read-only (`summary.offline` in --json; no queue or fleet to tell). */
async function offlineStatus(
  home: string,
  id: string | undefined,
  flags: Flags,
  json: boolean,
  refs: readonly ReferencePrice[],
): Promise<number> {
  const { OfflineJobs } = await import('../client/offline.js');
  let jobs: ReturnType<typeof OfflineJobs.open>;
  try {
    jobs = OfflineJobs.open(home);
    jobs?.summary();
  } catch (err) {
    // A store that cannot be read here (a read-only mount of a WAL database): say what would help.
    throw new NommerError(
      'API_UNREACHABLE',
      `feederd is not running for data dir ${home}, and its job store cannot be read without it (${(err as Error).message})`,
      { hint: 'start it with `nommer feederd --daemon` (`nommer submit` starts it for you)' },
    );
  }
  try {
    if (id) {
      if (!jobs)
        throw new NommerError('JOB_NOT_FOUND', `no job ${id}: data dir ${home} has no jobs`, {
          hint: 'is NOMMER_HOME the data dir you submitted from?',
        });
      const d = jobs.get(id);
      if (json) printJson(detailJson(d, refs));
      else process.stdout.write(`${detailLines(d, refs).join('\n')}\n`);
      return 0;
    }
    const page = jobs?.list(flags) ?? { jobs: [], nextCursor: null };
    const summary = {
      ...(jobs?.summary() ?? { jobs: { total: 0, byState: {} } }),
      offline: true,
    };
    if (json) {
      printJson({ jobs: page.jobs, nextCursor: page.nextCursor, summary });
      return 0;
    }
    const out = listLines(page, summary);
    if (page.nextCursor) out.push(`more: nommer status --cursor ${page.nextCursor}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    jobs?.close();
  }
}
