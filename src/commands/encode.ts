// `nommer encode`: one encode in the foreground, no daemon; the same function a worker runs.
import type { Command } from 'commander';
import { action, collect } from '../cli/context.js';
import { formatBytes, printJson, shellQuote } from '../cli/output.js';
import { ProgressLines } from '../cli/progress-lines.js';
import { encode } from '../encode.js';
import { NommerError } from '../errors.js';
import { locateFfmpeg } from '../ffmpeg/locate.js';
import { resolveOutputs } from '../jobspec.js';

interface EncodeFlags { preset?: string[]; output?: string[]; set?: string[]; force?: boolean; dryRun?: boolean }

export function registerEncode(program: Command): void {
  program
    .command('encode')
    .summary('encode one file now, in the foreground (no daemon)')
    .description('Encode one input with one or more presets in a single ffmpeg run (decoded once).\nOutputs appear only when complete; on failure or Ctrl-C nothing partial is left.')
    .argument('<input>', 'video or audio file (or an http(s) URL)')
    .option('-p, --preset <name>', 'preset to encode with; repeat for several outputs (default: webm)', collect, [])
    .option('-o, --output <path>', 'output path for the preset in the same position (default: beside the input)', collect, [])
    .option('-s, --set <key=value>', 'override a preset setting, e.g. video.crf=30 (see `nommer presets NAME`)', collect, [])
    .option('-f, --force', 'overwrite outputs that exist')
    .option('-n, --dry-run', 'print the ffmpeg command(s) and run nothing')
    .addHelpText('after', `
Examples:
  $ nommer encode clip.mov                                  # clip.webm (VP9 + Opus)
  $ nommer encode clip.mov -p webm -p poster                # clip.webm and clip.webp, one decode
  $ nommer encode clip.mov -p av1 -o out/clip-av1.webm --set video.crf=30
  $ nommer encode clip.mov --dry-run --json                 # {"commands": [[...argv]]}`)
    .action(action(async (ctx, input: string, flags: EncodeFlags) => {
      const { config } = await ctx.config();
      const outputs = resolveOutputs({ input, presets: flags.preset ?? [], outputs: flags.output ?? [], sets: flags.set ?? [], userPresets: config.presets, defaultPreset: config.defaultPreset });
      for (const o of outputs) {
        if (/^[a-z][a-z0-9+.-]*:\/\//i.test(o.uri)) throw new NommerError('USAGE', `encode writes local files only, got ${o.uri}`, { hint: 'use `nommer submit` for s3:// destinations' });
      }
      const ffmpeg = locateFfmpeg({ ffmpeg: config.ffmpeg.path, ffprobe: config.ffmpeg.ffprobePath });
      const lines = new ProgressLines();
      const ac = new AbortController();
      const onSignal = () => { lines.line('canceling…'); ac.abort(); };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const result = await encode({
          ffmpeg,
          input,
          outputs: outputs.map((o) => ({ preset: o.preset, path: o.uri })),
          force: flags.force,
          dryRun: flags.dryRun,
          signal: ac.signal,
          onProgress: ctx.global.quiet || ctx.global.json ? undefined : (p) => lines.progress('encoding', p),
        });
        if (flags.dryRun) {
          if (ctx.global.json) printJson({ commands: result.commands });
          else for (const c of result.commands) process.stdout.write(c.map(shellQuote).join(' ') + '\n');
          return 0;
        }
        if (ctx.global.json) {
          printJson({ input, duration: result.probe.duration, outputs: result.outputs.map((o, i) => ({ preset: outputs[i]!.preset.name, path: o.path, bytes: o.bytes })) });
        } else {
          lines.line('');
          for (const [i, o] of result.outputs.entries()) process.stdout.write(`${o.path}  (${outputs[i]!.preset.name}, ${formatBytes(o.bytes)})\n`);
        }
        return 0;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }));
}

