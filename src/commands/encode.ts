// `nommer encode`: one encode in the foreground, no daemon; the same function a worker runs.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { action, collect } from '../cli/context.js';
import { printJson, shellQuote } from '../cli/output.js';
import { localFileStorage } from '../backends.js';
import { encode, type EncodeRequest, type EncodeResult } from '../encode.js';
import { NommerError } from '../errors.js';
import { hasScheme } from '../uri.js';
import { locateFfmpeg } from '../ffmpeg/locate.js';
import { hdrWarning } from '../ffmpeg/hdr.js';
import { loudnessText } from '../api/format.js';
import { loudnessSets, qualitySets, resolveOutputs, type OutputSpec } from '../jobspec.js';
import { openEncodeView } from '../tui/encode-view.js';
import { chooseOutputMode } from '../tui/output-mode.js';
import { isPackagePreset, refuseTarget } from '../abr/ladder.js';
import type { ResolvedPreset } from '../presets/schema.js';
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import type { CommandContext } from '../cli/context.js';
import type { Config } from '../config.js';

interface EncodeFlags {
  preset?: string[];
  output?: string[];
  set?: string[];
  force?: boolean;
  dryRun?: boolean;
  target?: string;
  quality?: boolean;
  loudness?: string;
}

export function registerEncode(program: Command): void {
  program
    .command('encode')
    .summary('encode one file now, in the foreground (no daemon)')
    .description(
      'Encode one input with one or more presets in a single ffmpeg run (decoded once).\nOutputs appear only when complete; on failure or Ctrl-C nothing partial is left.',
    )
    .argument('<input>', 'video or audio file (or an http(s) URL)')
    .option('-p, --preset <name>', 'preset to encode with; repeat for several outputs (default: webm)', collect, [])
    .option(
      '-o, --output <path>',
      'output path for the preset in the same position (default: beside the input)',
      collect,
      [],
    )
    .option(
      '-s, --set <key=value>',
      'override a preset setting, e.g. video.crf=30 (see `nommer presets NAME`)',
      collect,
      [],
    )
    .option('-f, --force', 'overwrite outputs that exist')
    .option(
      '-t, --target <metric=value>',
      'search the CRF that reaches this quality, e.g. ssim=0.985, psnr=40 or a pooled figure ssim.p5=0.95 (VP8/VP9/AV1)',
    )
    .option('--no-quality', 'do not measure SSIM/PSNR of the outputs (default: config quality.measure)')
    .option(
      '--loudness <LUFS>',
      'normalize the audio to this integrated loudness (EBU R128), true peak at most -1 dBTP, e.g. -16 or -23',
    )
    .option('-n, --dry-run', 'print the ffmpeg command(s) and run nothing')
    .addHelpText(
      'after',
      `
Progress: on a terminal a live view, where q or Ctrl-C cancels the encode (no daemon runs it);
otherwise plain lines on stderr and each output on stdout; --json prints one object when done.
Quality: every video output is measured against the input and reported: VP8/VP9 (and libaom
AV1) by the encoder itself, PSNR of every frame at no extra cost; others, or with
--set quality.ssim=true, a target or an SSIM gate, by decoding the output after the encode (SSIM,
PSNR; VMAF where ffmpeg has libvmaf). --target searches the CRF on samples of the input,
encodes, checks the file lands within -0.003/+0.006 SSIM of the target (and corrects it if not).

Examples:
  $ nommer encode clip.mov                                  # clip.webm (VP9 + Opus)
  $ nommer encode clip.mov -p webm -p poster                # clip.webm and clip.webp, one decode
  $ nommer encode clip.mov -p av1 -o out/clip-av1.webm --set video.crf=30
  $ nommer encode clip.mov --target ssim=0.98 --json       # outputs[0].quality.search.crf
  $ nommer encode clip.mov --set quality.ssim=true          # SSIM too (a decode pass after)
  $ nommer encode clip.mov --loudness -16                   # audio at -16 LUFS, true peak <= -1 dBTP
  $ nommer encode clip.mov --dry-run --json                 # {"commands": [[...argv]]}
  $ nommer encode clip.mov -p abr                           # clip-abr/: manifest.mpd + master.m3u8`,
    )
    .action(action(runEncode));
}

/** The command's work: resolve the outputs, then a package, a dry run, or an encode. */
async function runEncode(ctx: CommandContext, input: string, flags: EncodeFlags): Promise<number> {
  const { config } = await ctx.config();
  const outputs = localOutputs(config, input, flags);
  const ffmpeg = locateFfmpeg({ ffmpeg: config.ffmpeg.path, ffprobe: config.ffmpeg.ffprobePath });
  const pkg = outputs.find((o) => isPackagePreset(o.preset));
  if (pkg) {
    if (outputs.length !== 1)
      throw new NommerError(
        'USAGE',
        `preset "${pkg.preset.name}" makes an adaptive-streaming package, which is encoded on its own`,
        { hint: 'run the package and the other presets as two encodes' },
      );
    return encodePackageCommand(ctx, { ffmpeg, input, preset: pkg.preset, dir: pkg.uri, flags });
  }
  const request: EncodeRequest = {
    ffmpeg,
    storage: localFileStorage(),
    input,
    outputs: outputs.map((o) => ({ preset: o.preset, path: o.uri })),
    force: flags.force,
  };
  if (flags.dryRun) {
    const r = await encode({ ...request, dryRun: true });
    printCommands(ctx, r.commands);
    return 0;
  }
  const result = await encodeWithView(ctx, request, outputs);
  reportEncode(ctx, input, outputs, result);
  return 0;
}

/** The outputs the flags and config name; `encode` writes local files only. */
function localOutputs(config: Config, input: string, flags: EncodeFlags): OutputSpec[] {
  const outputs = resolveOutputs({
    input,
    presets: flags.preset ?? [],
    outputs: flags.output ?? [],
    sets: [
      ...(flags.set ?? []),
      ...qualitySets({ target: flags.target, measure: flags.quality, configMeasure: config.quality.measure }),
      ...loudnessSets(flags.loudness),
    ],
    userPresets: config.presets,
    defaultPreset: config.defaultPreset,
    gates: config.quality.gates,
  });
  for (const o of outputs) {
    if (hasScheme(o.uri))
      throw new NommerError('USAGE', `encode writes local files only, got ${o.uri}`, {
        hint: 'use `nommer submit` for s3:// destinations',
      });
  }
  return outputs;
}

/** A dry run's commands: one JSON object with --json, else one shell-quoted line each. */
function printCommands(ctx: CommandContext, commands: string[][]): void {
  if (ctx.global.json) printJson({ commands });
  else for (const c of commands) process.stdout.write(`${c.map(shellQuote).join(' ')}\n`);
}

/** The encode, shown in the live view (or plain lines) that can also cancel it. */
async function encodeWithView(
  ctx: CommandContext,
  request: EncodeRequest,
  outputs: readonly OutputSpec[],
): Promise<EncodeResult> {
  const ac = new AbortController();
  const view = await openEncodeView({
    mode: chooseOutputMode(ctx.global),
    input: request.input,
    outputs: outputs.map((o) => ({ preset: o.preset.name, uri: o.uri })),
    cancel: () => ac.abort(),
  });
  let result: EncodeResult;
  try {
    result = await encode({ ...request, signal: ac.signal, onProgress: view.onProgress });
  } catch (err) {
    await view.failed(err);
    throw err;
  }
  await view.succeeded(result.outputs);
  return result;
}

/** After the view: HDR and loudness notes on stderr, and the --json result. */
function reportEncode(ctx: CommandContext, input: string, outputs: readonly OutputSpec[], result: EncodeResult): void {
  for (const o of result.outputs) {
    const w = o.quality?.hdr && hdrWarning(o.quality.hdr);
    if (w) process.stderr.write(`nommer: ${o.path}: ${w}\n`);
    if (o.loudness && !ctx.global.json && !ctx.global.quiet)
      process.stderr.write(`nommer: ${o.path}: ${loudnessText(o.loudness)}\n`);
  }
  if (ctx.global.json)
    printJson({
      input,
      duration: result.probe.duration,
      outputs: result.outputs.map((o, i) => ({
        preset: outputs[i]!.preset.name,
        path: o.path,
        bytes: o.bytes,
        ...(o.quality ? { quality: o.quality } : {}),
        ...(o.loudness ? { loudness: o.loudness } : {}),
      })),
    });
}

/** `encode -p abr`: the package's tasks, one after another, into a directory. */
async function encodePackageCommand(
  ctx: CommandContext,
  o: { ffmpeg: FfmpegInstall; input: string; preset: ResolvedPreset; dir: string; flags: EncodeFlags },
): Promise<number> {
  refuseTarget(o.preset);
  // The package's task machinery (planner, runners, every task kind) is loaded only for a package:
  // a plain encode does not pay for importing it.
  const { encodePackage, packageCommands } = await import('../abr/run-local.js');
  const { DASH_MANIFEST } = await import('../abr/worker-task.js');
  const { packageFileUri } = await import('../scratch.js');
  const input = hasScheme(o.input) ? o.input : resolve(o.input);
  if (o.flags.dryRun) {
    printCommands(ctx, await packageCommands({ ffmpeg: o.ffmpeg, input, preset: o.preset, dir: o.dir }));
    return 0;
  }
  // An existing package is refused before anything is encoded (the package step checks again).
  const storage = localFileStorage();
  await storage.checkOutput(packageFileUri(o.dir, DASH_MANIFEST), { overwrite: Boolean(o.flags.force) });
  const ac = new AbortController();
  const view = await openEncodeView({
    mode: chooseOutputMode(ctx.global),
    input: o.input,
    outputs: [{ preset: o.preset.name, uri: o.dir }],
    cancel: () => ac.abort(),
  });
  let result;
  try {
    result = await encodePackage({
      ffmpeg: o.ffmpeg,
      storage,
      input,
      preset: o.preset,
      dir: o.dir,
      force: o.flags.force,
      signal: ac.signal,
      onProgress: view.onProgress,
    });
  } catch (err) {
    await view.failed(err);
    throw err;
  }
  await view.succeeded([{ path: result.dir, bytes: result.bytes }]);
  if (result.loudness && !ctx.global.json && !ctx.global.quiet)
    process.stderr.write(`nommer: ${result.dir}: ${loudnessText(result.loudness)}\n`);
  if (ctx.global.json)
    printJson({
      input: o.input,
      duration: result.package.duration,
      outputs: [
        {
          preset: o.preset.name,
          path: result.dir,
          bytes: result.bytes,
          package: result.package,
          ...(result.loudness ? { loudness: result.loudness } : {}),
        },
      ],
    });
  return 0;
}
