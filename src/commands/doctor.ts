// `nommer doctor`: which ffmpeg, which encoders, which presets can run, which config.
import type { Command } from 'commander';
import { action } from '../cli/context.js';
import { printJson } from '../cli/output.js';
import { doctorReport } from '../doctor.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .summary('check ffmpeg, encoders, presets and config')
    .description(
      'Report the ffmpeg nommer uses (path, version, where it was found), the encoders it has,\nthe quality metrics it can measure (ssim, psnr; vmaf with libvmaf), which presets it can run, the config file and data directory in use, and AWS settings if any.\nExits 1 when no usable ffmpeg is found.',
    )
    .action(
      action(async (ctx) => {
        const r = await doctorReport(await ctx.config());
        if (ctx.global.json) {
          printJson(r);
          return r.ok ? 0 : 1;
        }
        const out: string[] = [];
        if (r.ffmpeg.error) out.push(`ffmpeg:    NOT FOUND — ${r.ffmpeg.error.message}`);
        else {
          out.push(`ffmpeg:    ${r.ffmpeg.path} (${r.ffmpeg.source}, version ${r.ffmpeg.version})`);
          out.push(`ffprobe:   ${r.ffmpeg.ffprobe}`);
          out.push(`encoders:  ${r.ffmpeg.encoders.join(' ') || '(none of the ones nommer uses)'}`);
          const missing = r.quality.missing.length
            ? `; not ${r.quality.missing.join(', ')}${r.quality.missing.includes('vmaf') ? ' (vmaf needs an ffmpeg built with libvmaf)' : ''}`
            : '';
          out.push(
            `quality:   ${r.quality.metrics.join(' ') || '(no metric filters)'}${missing}; measuring ${r.quality.measure ? 'on' : 'off (config quality.measure)'}`,
          );
        }
        out.push('presets:');
        for (const p of r.presets)
          out.push(`  ${p.runnable ? 'ok ' : 'NO '} ${p.name}${p.missing ? `  (needs ${p.missing})` : ''}`);
        out.push(`config:    ${r.config.file ?? '(none found; defaults)'}`);
        out.push(`backend:   ${r.config.backend}`);
        out.push(`data dir:  ${r.dataDir}`);
        if (r.aws)
          out.push(
            `aws:       region ${r.aws.region ?? '(from AWS env/profile)'}, bucket ${r.aws.bucket ?? '(not set)'}, queues ${r.aws.queuePrefix}-*, max instances ${r.aws.maxInstances}${r.aws.endpoint ? `, endpoint ${r.aws.endpoint}` : ''}`,
          );
        process.stdout.write(`${out.join('\n')}\n`);
        return r.ok ? 0 : 1;
      }),
    );
}
