// `nommer submit`: queue encodes with feederd (starting it when none runs) and follow them.
import { isPackagePreset } from '../abr/ladder.js';
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { action, collect, intOption, type CommandContext } from '../cli/context.js';
import type { LoadedConfig } from '../config.js';
import type { ResolvedPreset } from '../presets/schema.js';
import { formatDuration, printJson, shellQuote } from '../cli/output.js';
import { defaultWorkers } from '../config.js';
import { slotPricing } from '../fleet/prices.js';
import { findRunning, startDaemon } from '../client/daemon.js';
import { localFileStorage } from '../backends.js';
import { NommerError } from '../errors.js';
import { hasScheme } from '../uri.js';
import { locateFfmpeg } from '../ffmpeg/locate.js';
import { loudnessSets, qualitySets, resolveOutputs } from '../jobspec.js';
import type { CreateJobBody, EstimateView, PublicJob } from '../api/contract.js';
import { formatUsd } from '../api/format.js';
import { followJobsView } from '../tui/follow-jobs.js';
import { chooseOutputMode } from '../tui/output-mode.js';

interface Flags {
  preset: string[];
  output: string[];
  set: string[];
  notify?: string;
  priority?: number;
  idempotencyKey?: string;
  detach?: boolean;
  force?: boolean;
  dryRun?: boolean;
  api?: string;
  maxAttempts?: number;
  chunked?: boolean;
  target?: string;
  quality?: boolean;
  loudness?: string;
  maxCost?: number;
}

/** --max-cost: dollars, > 0. */
function dollars(value: string): number {
  const n = Number(value.replace(/^\$/, ''));
  if (!Number.isFinite(n) || n <= 0 || n > 1_000_000)
    throw new InvalidArgumentError(
      `--max-cost must be an amount in dollars above 0, like 0.50, got ${JSON.stringify(value)}`,
    );
  return n;
}

function estimateLine(input: string, e: EstimateView | null): string {
  if (!e) return `# ${input}: no estimate (the input is not a local file this machine can probe)`;
  const usd = e.usd === null ? 'no price' : formatUsd(e.usd);
  return `# ${input}: about ${formatDuration(e.seconds)} (${e.workerSeconds} worker-seconds), ${usd} — ${e.basis}`;
}

export function registerSubmit(program: Command): void {
  program
    .command('submit')
    .summary('queue encodes and follow their progress')
    .description(
      'Queue one job per input with feederd (started in the background if none runs) and follow ' +
        "them to the end. Outputs default to the input's folder with the preset's extension; an existing " +
        'output is an error unless --force; the input is never overwritten. Exit code 0 only if every job succeeded.',
    )
    .argument('<input...>', 'files (or http(s):// / s3:// URIs with the aws backend)')
    .option('-p, --preset <name>', 'preset; repeat for several outputs per input (default: webm)', collect, [])
    .option('-o, --output <dest>', 'destination for the preset in the same position (one input only)', collect, [])
    .option('-s, --set <key=value>', 'override a preset setting, e.g. video.crf=30', collect, [])
    .option('--notify <url>', 'POST each state change of the job to this URL (webhook)')
    .option('--priority <n>', 'higher runs first (-1000..1000)', intOption('--priority', -1000, 1000))
    .option('--idempotency-key <key>', 'submitting the same key again returns the existing job')
    .option(
      '--max-attempts <n>',
      'attempts before a retriable failure fails the job',
      intOption('--max-attempts', 1, 20),
    )
    .option('-f, --force', 'overwrite outputs that exist')
    .option('--chunked', 'split a long input at keyframes and encode the pieces on several workers at once')
    .option('--no-chunked', 'never chunk this job (default: config chunking.enabled and thresholdSeconds)')
    .option(
      '-t, --target <metric=value>',
      'search the CRF that reaches this quality, e.g. ssim=0.985 or ssim.p5=0.95 (chunked jobs: per chunk, on the workers)',
    )
    .option('--no-quality', 'do not measure SSIM/PSNR of the outputs (default: config quality.measure)')
    .option(
      '--loudness <LUFS>',
      'normalize the audio to this integrated loudness (EBU R128), true peak at most -1 dBTP, e.g. -16 or -23',
    )
    .option(
      '--max-cost <usd>',
      'the most each job may cost, in dollars: refused when its estimate is above, stopped if its cost passes it',
      dollars,
    )
    .option('--detach', 'queue and return at once (print the job ids)')
    .option('-n, --dry-run', 'print the ffmpeg command(s) each job would run; queue nothing')
    .option('--api <url>', 'feederd address (default: the one recorded in the data dir, or NOMMER_API)')
    .addHelpText(
      'after',
      `
Following: on a terminal the jobs show in a live view — ↑/↓ select a job, c cancels it (after y),
q or Ctrl-C stops following (the jobs keep running). Otherwise (pipe, CI, TERM=dumb) progress is
plain lines on stderr and each output path on stdout. With --json (and no --detach) stdout is JSON
lines: {"job": …, "event": …} per change (progress at most once a second per job), then last
{"jobs": [...]} with every job's final state.

Examples:
  $ nommer submit talk.mov                         # talk.webm, follows progress
  $ nommer submit *.mov -p webm -p poster --detach
  $ nommer submit a.mov b.mov c.mov                # one view for all three
  $ nommer submit talk.mov --json --detach         # {"jobs": [{"id": ..., "state": "queued", ...}]}
  $ nommer submit talk.mov --json | tail -n1       # {"jobs": [{"id": ..., "state": "succeeded", ...}]}
  $ nommer submit talk.mov --target ssim=0.985     # CRF searched; job.outputs[0].quality says how
  $ nommer submit talk.mov --loudness -23          # EBU R128; job.outputs[0].loudness: input and output
  $ nommer submit talk.mov --dry-run --json        # {"commands": [[ffmpeg argv...]], "jobs": [{"input", "estimate"}]}
  $ nommer submit talk.mov --max-cost 0.25         # BUDGET_EXCEEDED (exit 1) if estimated above $0.25`,
    )
    .action(
      action(async (ctx, inputs: string[], flags: Flags) => {
        const loaded = await ctx.config();
        const plan = await planSubmit(loaded, inputs, flags);
        if (flags.dryRun) return dryRun(ctx, loaded, plan, flags);
        return submitAndFollow(ctx, loaded, plan, flags);
      }),
    );
}

type ResolvedJob = { input: string; outputs: ReturnType<typeof resolveOutputs> };

/** The jobs to submit, each input checked and its outputs resolved, and what feederd is asked for each. */
interface SubmitPlan {
  jobs: ResolvedJob[];
  body: (j: ResolvedJob, i: number) => CreateJobBody;
}

async function planSubmit(loaded: LoadedConfig, inputs: string[], flags: Flags): Promise<SubmitPlan> {
  const { config } = loaded;
  if (flags.output.length && inputs.length > 1)
    throw new NommerError('USAGE', '-o works with one input only', {
      hint: "outputs default to each input's folder",
    });
  const jobs: ResolvedJob[] = [];
  const files = localFileStorage();
  // Quality flags travel as preset overrides, like --set.
  const sets = [
    ...flags.set,
    ...qualitySets({ target: flags.target, measure: flags.quality, configMeasure: config.quality.measure }),
    ...loudnessSets(flags.loudness),
  ];
  for (const raw of inputs) {
    const input = hasScheme(raw) ? raw : resolve(raw);
    if (!hasScheme(raw)) {
      const st = await stat(input).catch(() => undefined);
      if (!st) throw new NommerError('INPUT_NOT_FOUND', `input not found: ${raw}`, { hint: 'check the path' });
      if (!st.isFile()) throw new NommerError('INPUT_UNREADABLE', `input is not a regular file: ${raw}`);
    }
    const outputs = resolveOutputs({
      input,
      presets: flags.preset,
      outputs: flags.output,
      sets,
      userPresets: config.presets,
      defaultPreset: config.defaultPreset,
    });
    if (!flags.force && !flags.dryRun) {
      // The same check the worker's storage makes; s3:// outputs are checked by feederd's.
      for (const o of outputs)
        if (!hasScheme(o.uri) && isAbsolute(o.uri)) await files.checkOutput(o.uri, { overwrite: false });
    }
    jobs.push({ input, outputs });
  }
  // What feederd is asked, the same for a dry run and for the jobs themselves.
  const body = (j: ResolvedJob, i: number): CreateJobBody => ({
    input: j.input,
    outputs: j.outputs.map((o) => ({ preset: o.preset.name, uri: o.uri })),
    set: sets,
    priority: flags.priority,
    notifyUrl: flags.notify,
    idempotencyKey: flags.idempotencyKey
      ? jobs.length > 1
        ? `${flags.idempotencyKey}:${i}`
        : flags.idempotencyKey
      : undefined,
    force: Boolean(flags.force),
    maxAttempts: flags.maxAttempts,
    ...(flags.chunked !== undefined ? { chunked: flags.chunked } : {}),
    ...(flags.maxCost !== undefined ? { maxCostUsd: flags.maxCost } : {}),
  });
  return { jobs, body };
}

/**
 * --dry-run: the commands each job would run and its estimate. feederd resolves presets
 * (orchestrator/submit-job.ts): a running one is asked, so the commands shown are the ones it will
 * run; with none running, the same resolution with the config it would be started with.
 */
async function dryRun(ctx: CommandContext, loaded: LoadedConfig, plan: SubmitPlan, flags: Flags): Promise<number> {
  const { config } = loaded;
  const running = await findRunning(loaded, flags.api);
  const ffmpeg = locateFfmpeg({ ffmpeg: config.ffmpeg.path, ffprobe: config.ffmpeg.ffprobePath });
  const commands: string[][] = [];
  const estimates: Array<{ input: string; estimate: EstimateView | null }> = [];
  // Only a dry run builds the commands here: a plain submit loads neither the encoder nor the
  // package runner (and all the task kinds they import).
  const { encodeInto } = await import('../encode.js');
  const { packageCommands } = await import('../abr/run-local.js');
  for (const [i, j] of plan.jobs.entries()) {
    if (hasScheme(j.input) && !/^https?:/.test(j.input))
      throw new NommerError('USAGE', `--dry-run probes the input itself and cannot read ${j.input}`);
    let outputs = j.outputs.map((o) => ({ preset: o.preset, uri: o.uri }));
    let estimate: EstimateView | null;
    if (running) {
      const r = await running.dryRun(plan.body(j, i));
      outputs = r.outputs;
      estimate = r.estimate;
    } else estimate = await estimateWithoutFeederd(config, ffmpeg.ffprobe, j.input, outputs, flags);
    estimates.push({ input: j.input, estimate });
    const pkg = outputs.find((o) => isPackagePreset(o.preset));
    if (pkg) commands.push(...(await packageCommands({ ffmpeg, input: j.input, preset: pkg.preset, dir: pkg.uri })));
    else {
      const r = await encodeInto({
        ffmpeg,
        input: j.input,
        outputs: outputs.map((o) => ({ preset: o.preset, path: o.uri, dest: o.uri })),
        dryRun: true,
      });
      commands.push(...r.commands);
    }
  }
  if (ctx.global.json) printJson({ commands, jobs: estimates });
  else {
    for (const c of commands) process.stdout.write(`${c.map(shellQuote).join(' ')}\n`);
    for (const e of estimates) process.stdout.write(`${estimateLine(e.input, e.estimate)}\n`);
  }
  return 0;
}

/** Without feederd: the default table (no history) at the config's slot price, on the slots the
 * feederd it would start would have (as feederd.ts counts them). */
async function estimateWithoutFeederd(
  config: LoadedConfig['config'],
  ffprobe: string,
  input: string,
  outputs: Array<{ preset: ResolvedPreset; uri: string }>,
  flags: Flags,
): Promise<EstimateView | null> {
  // A dry-run's only: the estimator brings the chunk and ladder planners along.
  const { makeEstimator } = await import('../orchestrator/estimator.js');
  const e = await makeEstimator({
    history: () => [],
    ffprobe: () => ffprobe,
    usdPerSlotHour: () => slotPricing(config)?.usdPerSlotHour,
    slots: () =>
      config.backend === 'aws'
        ? Math.max(1, config.aws.ec2.maxInstances * config.aws.ec2.slotsPerInstance)
        : Math.max(1, config.local.workers ?? defaultWorkers()),
    chunking: () => config.chunking,
  })(input, outputs, flags.chunked !== undefined ? { chunked: flags.chunked } : {});
  return e
    ? {
        seconds: e.seconds,
        workerSeconds: e.workerSeconds,
        usd: e.usd,
        basis: `${e.basis}; feederd not running, so no history`,
      }
    : null;
}

/** Queue the jobs with feederd (started in the background when none runs), then follow them. */
async function submitAndFollow(
  ctx: CommandContext,
  loaded: LoadedConfig,
  plan: SubmitPlan,
  flags: Flags,
): Promise<number> {
  let client = await findRunning(loaded, flags.api);
  if (!client) {
    if (flags.api) throw new NommerError('API_UNREACHABLE', `no feederd answers at ${flags.api}`);
    const d = await startDaemon(loaded);
    if (!ctx.global.quiet)
      process.stderr.write(
        `started feederd in the background (pid ${d.pid}, ${d.url}); stop it with \`nommer feederd stop\`\n`,
      );
    client = await findRunning(loaded);
    if (!client) throw new NommerError('API_UNREACHABLE', 'feederd started but does not answer');
  }
  const created: PublicJob[] = [];
  for (const [i, j] of plan.jobs.entries()) {
    const r = await client.createJob(plan.body(j, i));
    created.push(r.job);
  }
  if (flags.detach) {
    if (ctx.global.json) printJson({ jobs: created });
    else for (const j of created) process.stdout.write(`${j.id}  ${j.state}  ${j.input}\n`);
    return 0;
  }
  return followJobsView({ client, jobs: created, mode: chooseOutputMode(ctx.global) });
}
