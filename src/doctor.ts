// What `nommer doctor` reports: the ffmpeg found and from where, its encoders, which presets it
// can run, which quality metrics it can measure, the config file and data dir in use, and AWS
// settings when configured.
import type { LoadedConfig } from './config.js';
import { asNommerError } from './errors.js';
import { ffmpegCapabilities, locateFfmpeg } from './ffmpeg/locate.js';
import { listPresets } from './presets/registry.js';
import { requiredEncoders } from './presets/compile.js';

const INTERESTING = [
  'libvpx',
  'libvpx-vp9',
  'libsvtav1',
  'libaom-av1',
  'librav1e',
  'libtheora',
  'libvorbis',
  'libopus',
  'libwebp',
];

export interface DoctorReport {
  ok: boolean;
  ffmpeg: {
    path?: string;
    ffprobe?: string;
    source?: string;
    version?: string;
    encoders: string[];
    error?: { code: string; message: string };
  };
  /** Quality metrics this ffmpeg can measure (ssim, psnr; vmaf only with libvmaf), and whether
   * measuring is on (config quality.measure). */
  quality: { metrics: string[]; missing: string[]; measure: boolean };
  presets: Array<{ name: string; runnable: boolean; missing?: string }>;
  config: { file: string | null; backend: string };
  dataDir: string;
  aws?: { region?: string; bucket?: string; queuePrefix: string; endpoint?: string; maxInstances: number };
}

export async function doctorReport(loaded: LoadedConfig): Promise<DoctorReport> {
  const { config } = loaded;
  const report: DoctorReport = {
    ok: true,
    ffmpeg: { encoders: [] },
    quality: { metrics: [], missing: ['ssim', 'psnr', 'vmaf'], measure: config.quality.measure },
    presets: [],
    config: { file: loaded.filepath ?? null, backend: config.backend },
    dataDir: loaded.home,
  };
  let encoders = new Set<string>();
  try {
    const found = locateFfmpeg({ ffmpeg: config.ffmpeg.path, ffprobe: config.ffmpeg.ffprobePath });
    const caps = await ffmpegCapabilities(found.ffmpeg);
    encoders = caps.encoders;
    report.ffmpeg = {
      path: found.ffmpeg,
      ffprobe: found.ffprobe,
      source: found.source,
      version: caps.version,
      encoders: INTERESTING.filter((e) => encoders.has(e)),
    };
    const metrics = {
      ssim: caps.filters.has('ssim'),
      psnr: caps.filters.has('psnr'),
      vmaf: caps.filters.has('libvmaf'),
    };
    report.quality.metrics = Object.entries(metrics).flatMap(([m, ok]) => (ok ? [m] : []));
    report.quality.missing = Object.entries(metrics).flatMap(([m, ok]) => (ok ? [] : [m]));
  } catch (err) {
    const e = asNommerError(err);
    report.ok = false;
    report.ffmpeg.error = { code: e.code, message: e.hint ? `${e.message} (${e.hint})` : e.message };
  }
  for (const p of listPresets(config.presets)) {
    const missing = requiredEncoders(p).filter((need) => !need.anyOf.some((e) => encoders.has(e)));
    report.presets.push(
      missing.length
        ? { name: p.name, runnable: false, missing: missing.map((need) => need.anyOf.join(' or ')).join(', ') }
        : { name: p.name, runnable: true },
    );
  }
  if (config.backend === 'aws' || config.aws.bucket) {
    report.aws = {
      region: config.aws.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION,
      bucket: config.aws.bucket,
      queuePrefix: config.aws.queuePrefix,
      endpoint: config.aws.endpoint ?? process.env.AWS_ENDPOINT_URL,
      maxInstances: config.aws.ec2.maxInstances,
    };
  }
  return report;
}
