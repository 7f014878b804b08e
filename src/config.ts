// Loads and validates nommer's configuration: a config file found by cosmiconfig from the working
// directory up (nommer.config.{json,yaml,js,mjs,ts}, .nommerrc*, or a "nommer" key in
// package.json), then environment overrides. Every problem is reported with its path in the file.
import { isIP } from 'node:net';
import { cosmiconfig, defaultLoaders, type Loader } from 'cosmiconfig';
import { cpus, homedir, platform } from 'node:os';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { NommerError } from './errors.js';
import { REFERENCE_PRICES } from './fleet/prices.js';
import { qualityGatesSchema } from './presets/schema.js';

const posInt = (what = 'a positive integer') =>
  z
    .number({ error: `must be ${what}` })
    .int({ error: `must be ${what}` })
    .positive({ error: `must be ${what}` });
const nonNegInt = () =>
  z
    .number({ error: 'must be a whole number ≥ 0' })
    .int({ error: 'must be a whole number ≥ 0' })
    .min(0, { error: 'must be a whole number ≥ 0' });
const str = () => z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' });
const bool = () => z.boolean({ error: 'must be true or false' });

const ec2Schema = z
  .strictObject({
    maxInstances: nonNegInt().default(0),
    minInstances: nonNegInt().default(0),
    instanceTypes: z.array(str(), { error: 'must be a list of instance types' }).min(1).default(['c7a.xlarge']),
    ami: str().optional(),
    subnetId: str().optional(),
    securityGroupIds: z.array(str()).optional(),
    instanceProfile: str().optional(),
    keyName: str().optional(),
    spot: bool().default(true),
    slotsPerInstance: posInt().default(1),
    // 45 s: the autoscaler simulation (bench/autoscaler-sim) put bursty-load cost within 15% of
    // the clairvoyant bound at 45 s and 27% above it at 120 s, with the same waits.
    idleExitSeconds: posInt().default(45),
    bootSeconds: posInt().default(90),
    cooldownSeconds: nonNegInt().default(30),
    /** On-demand $/hour by instance type, for cost estimates. */
    prices: z.record(z.string(), z.number({ error: 'must be a price in $/hour' }).nonnegative()).default({}),
    /** The fleet never costs more than this, $/hour at on-demand prices: the autoscaler launches no further. */
    maxHourlySpend: z.number({ error: 'must be a price in $/hour' }).positive({ error: 'must be > 0' }).optional(),
    /** SHA-256 of the release tarball workers install, when `nommer setup aws` ran on another
     * machine (it prints it); otherwise the pin that setup kept in the data dir is used. */
    releaseSha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, {
        error: 'must be a SHA-256 in hex (64 characters), as `nommer setup aws` prints it',
      })
      .optional(),
  })
  .prefault({});

/** An address, or address/prefix with a prefix that fits its family. */
function isCidr(s: string): boolean {
  const [addr = '', prefix, ...rest] = s.split('/');
  const family = isIP(addr);
  if (!family || rest.length) return false;
  if (prefix === undefined) return true;
  const n = Number(prefix);
  return /^\d+$/.test(prefix) && n <= (family === 4 ? 32 : 128);
}

const awsSchema = z
  .strictObject({
    region: str().optional(),
    endpoint: z.url({ error: 'must be a URL like http://127.0.0.1:5000' }).optional(),
    bucket: str().optional(),
    queuePrefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,60}$/, { error: 'must be 1–60 letters, digits, - or _' })
      .default('nommer'),
    stagingPrefix: z.string().default('nommer-staging/'),
    /** Where feederd keeps the fences workers read (one small object per job; never a destination). */
    controlPrefix: z.string().default('nommer-control/'),
    forcePathStyle: bool().default(false),
    sse: z.enum(['AES256', 'aws:kms'], { error: 'must be "AES256" or "aws:kms"' }).optional(),
    kmsKeyId: str().optional(),
    /** Private ranges (CIDRs) aws workers may download http(s) inputs from; none by default. */
    allowPrivateInputs: z
      .array(z.string().refine(isCidr, { error: 'must be a CIDR like 10.20.0.0/16 or an address' }))
      .default([]),
    /** Where in S3 jobs may read inputs and write outputs, as s3://bucket/prefix; empty: anywhere
     * in aws.bucket. nommer's staging, control and release prefixes are never allowed. */
    allowedPrefixes: z
      .array(
        z.string().regex(/^s3:\/\/[^/\s]+\/?[^\s]*$/, { error: 'must be an S3 location like s3://bucket/prefix/' }),
      )
      .default([]),
    ec2: ec2Schema,
  })
  .prefault({});

const retentionDays = (error = 'must be a whole number of days from 1 to 36500 (how long finished jobs are kept)') =>
  z.number({ error }).int({ error }).min(1, { error }).max(36500, { error });

export const configSchema = z.strictObject({
  backend: z.enum(['local', 'aws'], { error: 'must be "local" or "aws"' }).default('local'),
  /** Data directory: database, logs, pid file. */
  home: str().optional(),
  ffmpeg: z.strictObject({ path: str().optional(), ffprobePath: str().optional() }).prefault({}),
  /** User presets: name -> preset object (may `extends` a built-in). */
  presets: z.record(z.string(), z.record(z.string(), z.unknown(), { error: 'must be a preset object' })).default({}),
  defaultPreset: str().default('webm'),
  api: z
    .strictObject({
      host: str().default('127.0.0.1'),
      port: z
        .number({ error: 'must be a port number' })
        .int()
        .min(0)
        .max(65535, { error: 'must be a port number 0–65535' })
        .default(7474),
      token: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
      /** Host names, besides the listen address and loopback's, that clients may use for the API. */
      allowedHosts: z.array(str()).default([]),
      bodyLimitBytes: posInt().default(1 << 20),
    })
    .prefault({}),
  local: z
    .strictObject({
      /** Worker processes; default: one per two cores (each ffmpeg uses several threads), at least 1. */
      workers: posInt().optional(),
      /** $ per hour of one local worker slot (electricity, a rented box); 0: worker-seconds only. */
      costPerHour: z.number({ error: 'must be a price in $/hour' }).nonnegative().default(0),
    })
    .prefault({}),
  jobs: z
    .strictObject({
      maxAttempts: posInt().default(3),
      leaseSeconds: posInt().default(30),
    })
    .prefault({}),
  webhooks: z
    .strictObject({
      secret: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
      timeoutMs: posInt().default(5000),
      maxAttempts: posInt().default(6),
    })
    .prefault({}),
  /** Long inputs as a graph of chunk encodes (one WebM VP9/AV1 output; see src/chunked). A job's
   * own `chunked` (submit --chunked/--no-chunked) overrides `enabled` and the threshold. */
  chunking: z
    .strictObject({
      enabled: bool().default(false),
      /** Inputs at least this long (seconds) are chunked. */
      thresholdSeconds: posInt().default(600),
      /** Wanted chunk length (seconds); chunks are cut on source keyframes and the count is raised
       * to fill the fleet, down to half this length. */
      chunkSeconds: posInt().default(60),
      /** Cut chunks at scene changes (detected with ffmpeg's scdet), within [minChunkSeconds,
       * maxChunkSeconds]; a long shot is cut at a keyframe. false: at keyframes only. */
      scenes: bool().default(true),
      /** scdet score (0-100) above which a frame starts a new shot. */
      sceneThreshold: z.number({ error: 'must be a number from 0 to 100' }).min(0).max(100).default(10),
      /** Shortest and longest chunk (seconds) when cutting at scenes; default half and twice chunkSeconds. */
      minChunkSeconds: z.number({ error: 'must be a positive number' }).positive().optional(),
      maxChunkSeconds: z.number({ error: 'must be a positive number' }).positive().optional(),
    })
    .superRefine((c, ctx) => {
      const min = c.minChunkSeconds ?? c.chunkSeconds / 2;
      const max = c.maxChunkSeconds ?? c.chunkSeconds * 2;
      if (min > c.chunkSeconds || max < c.chunkSeconds)
        ctx.addIssue({
          code: 'custom',
          path: [c.minChunkSeconds !== undefined && min > c.chunkSeconds ? 'minChunkSeconds' : 'maxChunkSeconds'],
          message: `must keep chunkSeconds (${c.chunkSeconds}) between minChunkSeconds (${min}) and maxChunkSeconds (${max})`,
        });
      else if (max < 2 * min)
        ctx.addIssue({
          code: 'custom',
          path: ['maxChunkSeconds'],
          message: `must be at least twice minChunkSeconds (${min}), so a long shot can always be cut in two`,
        });
    })
    .prefault({}),
  /** Quality of video outputs (see src/quality): SSIM/PSNR against the source, measured by
   * `encode` and `submit` unless this is false or `--no-quality` is given. */
  quality: z
    .strictObject({
      measure: bool().default(true),
      /** Floors on the outputs' quality figures, e.g. { "ssim.p5": { "min": 0.93, "action": "fail" } }
       * (presets/schema.ts qualityGatesSchema): every measured video output is checked against them. */
      gates: qualityGatesSchema().default({}),
    })
    .prefault({}),
  /** How long finished jobs (with their tasks and events) and dead letters are kept: feederd
   * prunes older ones at start and daily; `nommer prune` on demand. */
  retention: z
    .strictObject({
      days: retentionDays().default(30),
    })
    .prefault({}),
  /** Watch folders (`nommer watch`): how long a file must hold still to be whole, and how often
   * every watched folder is listed again whatever inotify says (network shares send no events);
   * for S3 prefixes, how often their routes are checked (and the ingest queue's poll, up to 20 s). */
  watch: z
    .strictObject({
      settleSeconds: z.number({ error: 'must be seconds, 0.1 to 3600' }).min(0.1).max(3600).default(2),
      rescanSeconds: z.number({ error: 'must be seconds, 0.5 to 86400' }).min(0.5).max(86_400).default(30),
    })
    .prefault({}),
  /** What hosted transcoders charge per output minute, for `nommer status ID` to compare a job with. */
  cost: z
    .strictObject({
      referencePrices: z
        .array(
          z.strictObject({
            name: str(),
            sd: z.number({ error: 'must be $ per output minute' }).nonnegative(),
            hd: z.number({ error: 'must be $ per output minute' }).nonnegative(),
            source: str(),
            recorded: str(),
          }),
        )
        .default(() => REFERENCE_PRICES.map((r) => ({ ...r }))),
    })
    .prefault({}),
  aws: awsSchema,
});

export type Config = z.infer<typeof configSchema>;

export interface LoadedConfig {
  config: Config;
  /** The file it came from, if any. */
  filepath?: string;
  /** Data directory, resolved. */
  home: string;
}

export function defaultDataDir(): string {
  if (platform() === 'darwin') return join(homedir(), 'Library', 'Application Support', 'nommer');
  if (platform() === 'win32') return join(process.env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'nommer');
  return join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'nommer');
}

export function defaultWorkers(): number {
  return Math.max(1, Math.floor(cpus().length / 2));
}

function valueAt(obj: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/** One line per problem: `aws.ec2.maxInstances must be a positive integer, got "ten"`. */
export function formatIssues(issues: z.core.$ZodIssue[], input: unknown): string[] {
  return issues.map((i) => {
    const path = i.path.map(String).join('.');
    if (i.code === 'unrecognized_keys') {
      const where = path ? `${path}.` : '';
      return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${where}${k}"`).join(', ')} (check the spelling; see README "Configuration")`;
    }
    const got = valueAt(input, i.path);
    // A rejected secret is still a secret: say what is wrong with it, never what it is.
    const secret = /(^|\.)(token|secret|password|kmsKeyId)$/i.test(path);
    const gotText =
      got === undefined
        ? ''
        : secret
          ? ` (value hidden, ${typeof got === 'string' ? `${got.length} characters` : typeof got})`
          : `, got ${JSON.stringify(got)}`;
    const msg = i.message.startsWith('must') ? i.message : `is invalid: ${i.message}`;
    return `${path || '(config)'} ${msg}${gotText}`;
  });
}

/** Environment overrides, applied over the file. */
function envOverrides(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): { raw: Record<string, unknown>; problems: string[] } {
  const out: Record<string, unknown> = structuredClone(raw);
  const problems: string[] = [];
  const set = (path: string[], v: unknown) => {
    let cur = out;
    for (const k of path.slice(0, -1)) {
      if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
      cur = cur[k] as Record<string, unknown>;
    }
    cur[path[path.length - 1]!] = v;
  };
  const int = (name: string, path: string[]) => {
    const v = env[name];
    if (v === undefined || v === '') return;
    const n = Number(v);
    if (!Number.isInteger(n)) problems.push(`${name} must be an integer, got ${JSON.stringify(v)}`);
    else set(path, n);
  };
  if (env.NOMMER_HOME) set(['home'], env.NOMMER_HOME);
  if (env.NOMMER_BACKEND) set(['backend'], env.NOMMER_BACKEND);
  if (env.NOMMER_FFMPEG) set(['ffmpeg', 'path'], env.NOMMER_FFMPEG);
  if (env.NOMMER_FFPROBE) set(['ffmpeg', 'ffprobePath'], env.NOMMER_FFPROBE);
  if (env.NOMMER_TOKEN) set(['api', 'token'], env.NOMMER_TOKEN);
  if (env.NOMMER_HOST) set(['api', 'host'], env.NOMMER_HOST);
  int('NOMMER_PORT', ['api', 'port']);
  int('NOMMER_WORKERS', ['local', 'workers']);
  if (env.NOMMER_WEBHOOK_SECRET) set(['webhooks', 'secret'], env.NOMMER_WEBHOOK_SECRET);
  if (env.NOMMER_AWS_BUCKET) set(['aws', 'bucket'], env.NOMMER_AWS_BUCKET);
  if (env.NOMMER_AWS_QUEUE_PREFIX) set(['aws', 'queuePrefix'], env.NOMMER_AWS_QUEUE_PREFIX);
  if (env.NOMMER_AWS_REGION) set(['aws', 'region'], env.NOMMER_AWS_REGION);
  if (env.NOMMER_AWS_FORCE_PATH_STYLE)
    set(['aws', 'forcePathStyle'], /^(1|true|yes)$/i.test(env.NOMMER_AWS_FORCE_PATH_STYLE));
  int('NOMMER_AWS_MAX_INSTANCES', ['aws', 'ec2', 'maxInstances']);
  return { raw: out, problems };
}

const SEARCH_PLACES = [
  'package.json',
  'nommer.config.json',
  'nommer.config.yaml',
  'nommer.config.yml',
  'nommer.config.js',
  'nommer.config.mjs',
  'nommer.config.cjs',
  'nommer.config.ts',
  '.nommerrc',
  '.nommerrc.json',
  '.nommerrc.yaml',
  '.nommerrc.yml',
  '.nommerrc.js',
  '.nommerrc.mjs',
  '.nommerrc.cjs',
  '.nommerrc.ts',
];

/**
 * JSON config files (and package.json): JSON.parse, which is what cosmiconfig's own loader
 * (parse-json) runs first; that loader, with its code frame, only for a file JSON.parse refuses, so
 * the error reads the same. Loading parse-json and @babel/code-frame cost ~20 ms of every process
 * that had a nommer.config.json.
 */
const loadJson: Loader = (filepath, content) => {
  try {
    return JSON.parse(content);
  } catch {
    return defaultLoaders['.json'](filepath, content);
  }
};

/** Validates a raw config object (already merged with env); throws CONFIG_INVALID listing every problem. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const r = configSchema.safeParse(raw ?? {});
  if (!r.success) {
    const lines = formatIssues(r.error.issues, raw);
    throw new NommerError('CONFIG_INVALID', `${source} is invalid:\n  ${lines.join('\n  ')}`);
  }
  return r.data;
}

export async function loadConfig(
  opts: { cwd?: string; file?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<LoadedConfig> {
  const env = opts.env ?? process.env;
  const explorer = cosmiconfig('nommer', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'global',
    loaders: { '.json': loadJson },
  });
  let found: { config: unknown; filepath: string } | null = null;
  try {
    found = opts.file ? await explorer.load(resolve(opts.file)) : await explorer.search(opts.cwd ?? process.cwd());
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new NommerError('CONFIG_INVALID', `config file not found: ${opts.file}`);
    const where = e.message.split('\n')[0];
    throw new NommerError('CONFIG_INVALID', `cannot read config: ${where}`, {
      hint: 'fix the syntax error, or move the file away',
    });
  }
  const raw = (found?.config ?? {}) as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new NommerError(
      'CONFIG_INVALID',
      `${found?.filepath ?? 'config'} must contain an object, got ${JSON.stringify(raw)}`,
    );
  }
  const { raw: merged, problems } = envOverrides(raw as Record<string, unknown>, env);
  if (problems.length) throw new NommerError('CONFIG_INVALID', `environment is invalid:\n  ${problems.join('\n  ')}`);
  const config = parseConfig(merged, found?.filepath ?? 'config');
  const home = resolve(config.home ?? defaultDataDir());
  return { config, filepath: found?.filepath, home };
}
