// `nommer presets [NAME]`: list presets, or show one fully resolved.
import type { Command } from 'commander';
import { action } from '../cli/context.js';
import { printJson } from '../cli/output.js';
import { getPreset, listPresets } from '../presets/registry.js';

export function registerPresets(program: Command): void {
  program
    .command('presets')
    .summary('list presets, or show one')
    .description(
      'List the presets (built-in and yours from config), or show one fully resolved\n(extends applied) with every setting you can change with --set.',
    )
    .argument('[name]', 'a preset to show in full')
    .addHelpText(
      'after',
      `
Examples:
  $ nommer presets
  $ nommer presets webm --json`,
    )
    .action(
      action(async (ctx, name: string | undefined) => {
        const { config } = await ctx.config();
        if (name) {
          const p = getPreset(name, config.presets);
          if (ctx.global.json) printJson(p);
          else process.stdout.write(`${JSON.stringify(p, null, 2)}\n`);
          return 0;
        }
        const all = listPresets(config.presets);
        if (ctx.global.json) {
          printJson(all);
          return 0;
        }
        const w = Math.max(...all.map((p) => p.name.length));
        for (const p of all)
          process.stdout.write(
            `${p.name.padEnd(w)}  .${String(p.extension).replace(/^\./, '').padEnd(5)} ${p.description ?? ''}\n`,
          );
        return 0;
      }),
    );
}
