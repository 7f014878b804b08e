// `nommer watch add|list|remove`: folders (and, aws backend, S3 prefixes) whose arriving files
// feederd turns into jobs.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { action, collect } from '../cli/context.js';
import { printJson } from '../cli/output.js';
import { requireFeederd } from '../client/connect.js';
import { hasScheme } from '../uri.js';
import type { PublicWatch } from '../api/contract.js';

interface AddFlags {
  preset: string[];
  output: string;
  set: string[];
  recursive?: boolean;
  pattern?: string;
  api?: string;
}

const local = (p: string) => (hasScheme(p) ? p : resolve(p));

function describe(w: PublicWatch): string {
  const what = `${w.presets.join(',')} -> ${w.dest}${w.recursive ? ' (recursive)' : ''}${w.pattern ? ` [${w.pattern}]` : ''}`;
  const state = w.state === 'ok' ? 'ok' : `error: ${w.error}`;
  return `${w.id}  ${w.source}  ${what}  ${state}  ${w.files} file${w.files === 1 ? '' : 's'}`;
}

function registerAdd(watch: Command): void {
  watch
    .command('add')
    .summary('watch a folder or an S3 prefix: each file that arrives there, once whole, becomes a job')
    .description(
      'Every file that arrives in the folder (written, copied or moved in) becomes one job once it is whole ' +
        '(its size and modification time hold still). Hidden files and names of transfers in progress ' +
        '(.part, .tmp, .crdownload) are ignored. Outputs go under DEST at the path the file has under the ' +
        'folder; a file is encoded once by its content: a restart, a rescan or a touch makes no second job, ' +
        "a change of content makes a new one that replaces the path's outputs. feederd runs the watch.\n\n" +
        'On the aws backend, SOURCE may be s3://bucket/prefix/: the bucket sends an event for each object ' +
        'created under the prefix to the ingest queue `nommer setup aws` made (nothing lists the bucket), and ' +
        'feederd makes one job per object version (a repeated event makes none); outputs go to -o ' +
        's3://bucket/other-prefix/. Without --recursive only keys directly under the prefix count.',
    )
    .argument('<source>', 'the folder to watch (read by feederd, on its machine), or s3://bucket/prefix/ (aws backend)')
    .option('-p, --preset <name>', 'preset; repeat for several outputs per file (default: defaultPreset)', collect, [])
    .requiredOption('-o, --output <dest>', 'where outputs go: a folder, or s3://bucket/prefix/ for an S3 watch')
    .option('-s, --set <key=value>', 'override a preset setting, e.g. video.crf=30', collect, [])
    .option('-r, --recursive', 'subfolders (keys below the prefix) too; outputs keep the subfolder')
    .option('--pattern <glob>', 'only files whose name matches, e.g. "*.mov" or "*.{mov,mp4}"')
    .option('--api <url>', 'feederd address')
    .addHelpText(
      'after',
      `
Examples:
  $ nommer watch add ~/incoming -p webm -o ~/encoded
  $ nommer watch add /srv/drop -p vp9-1080p -p poster -o /srv/out --recursive --pattern "*.{mov,mp4}"
  $ nommer watch add s3://media/uploads/ -p webm -o s3://media/encoded/ --recursive   # aws backend
  $ nommer watch add ~/incoming -p opus -o ~/audio --json      # {"watch": {"id": "w_…", …}}

A folder that is missing or unreadable, or a bucket that does not exist, is refused (exit 2).
\`nommer watch list\` shows what feederd last found at each source.`,
    )
    .action(
      action(async (ctx, source: string, flags: AddFlags) => {
        const client = await requireFeederd(await ctx.config(), flags.api);
        const r = await client.addWatch({
          source: local(source),
          presets: flags.preset.length ? flags.preset : [(await ctx.config()).config.defaultPreset],
          dest: local(flags.output),
          set: flags.set,
          recursive: flags.recursive ?? false,
          ...(flags.pattern ? { pattern: flags.pattern } : {}),
        });
        if (ctx.global.json) printJson(r);
        else process.stdout.write(`${describe(r.watch)}\n`);
        return 0;
      }),
    );
}

export function registerWatch(program: Command): void {
  const watch = program
    .command('watch')
    .summary('turn files arriving in a folder or an S3 prefix into jobs (add, list, remove)')
    .addHelpText(
      'after',
      `
Examples:
  $ nommer watch add ~/incoming -p webm -o ~/encoded
  $ nommer watch add s3://media/uploads/ -p webm -o s3://media/encoded/   # aws backend
  $ nommer watch list            # id, source, presets -> dest, state (e.g. "error: folder missing"), files
  $ nommer watch remove w_1a2b3c4d5e6f`,
    );
  registerAdd(watch);
  watch
    .command('list')
    .summary('the watches, with what feederd last found at each folder')
    .option('--api <url>', 'feederd address')
    .addHelpText('after', '\nExamples:\n  $ nommer watch list\n  $ nommer watch list --json   # {"watches": [...]}')
    .action(
      action(async (ctx, flags: { api?: string }) => {
        const client = await requireFeederd(await ctx.config(), flags.api);
        const r = await client.listWatches();
        if (ctx.global.json) printJson(r);
        else process.stdout.write(r.watches.length ? `${r.watches.map(describe).join('\n')}\n` : 'no watches\n');
        return 0;
      }),
    );
  watch
    .command('remove')
    .summary('stop watching (the jobs it made stay)')
    .argument('<id>', 'watch id (from `nommer watch list`)')
    .option('--api <url>', 'feederd address')
    .addHelpText('after', '\nExamples:\n  $ nommer watch remove w_1a2b3c4d5e6f')
    .action(
      action(async (ctx, id: string, flags: { api?: string }) => {
        const client = await requireFeederd(await ctx.config(), flags.api);
        const r = await client.removeWatch(id);
        if (ctx.global.json) printJson(r);
        else process.stdout.write(`removed ${r.watch.id}  ${r.watch.source}\n`);
        return 0;
      }),
    );
}
