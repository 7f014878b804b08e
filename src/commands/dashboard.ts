// `nommer dashboard [--print]`: log in to the dashboard feederd serves, in the browser.
import { rmSync } from 'node:fs';
import type { Command } from 'commander';
import { action } from '../cli/context.js';
import { printJson } from '../cli/output.js';
import { findRunning, startDaemon } from '../client/daemon.js';
import { dashboardLoginLink, noBrowserReason, openInBrowser, writeLoginPage } from '../client/dashboard.js';
import { NommerError } from '../errors.js';

interface Flags {
  print?: boolean;
  api?: string;
}

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .summary('open the dashboard in the browser (jobs live, submit, cancel, retry)')
    .description(
      "Open feederd's dashboard (served on its API port) in the browser, logged in by a one-time link " +
        '(handed to the browser through a page in the data dir that only you can read, never on a command line): ' +
        'the link works once, within a minute, and leaves an HttpOnly cookie for that browser (until feederd ' +
        'restarts, or 12 hours). Starts feederd in the background when none runs. With --print, or where ' +
        'there is no browser (CI set, no DISPLAY), the link is printed instead.',
    )
    .option('--print', 'print the login link instead of opening a browser')
    .option('--api <url>', 'feederd address')
    .addHelpText(
      'after',
      `
Examples:
  $ nommer dashboard
  $ nommer dashboard --print          # open the link yourself (it works once, for a minute)
  $ ssh -L 7474:127.0.0.1:7474 host   # then \`nommer dashboard --print\` on host, open it here`,
    )
    .action(
      action(async (ctx, flags: Flags) => {
        const loaded = await ctx.config();
        let client = await findRunning(loaded, flags.api);
        if (!client) {
          if (flags.api) throw new NommerError('API_UNREACHABLE', `no feederd answers at ${flags.api}`);
          const d = await startDaemon(loaded);
          if (!ctx.global.quiet) process.stderr.write(`started feederd in the background (pid ${d.pid}, ${d.url})\n`);
          client = await findRunning(loaded);
          if (!client) throw new NommerError('API_UNREACHABLE', 'feederd started but does not answer');
        }
        const link = await dashboardLoginLink(client);
        const why = flags.print ? 'asked to print' : noBrowserReason();
        const page = why === null ? writeLoginPage(loaded.home, link) : undefined;
        const opened = page !== undefined && (await openInBrowser(page));
        if (page && !opened) rmSync(page, { force: true });
        if (ctx.global.json) {
          // Once opened, the link is in the browser alone: not printed, where a log could keep it.
          printJson(
            opened ? { page, expiresAt: link.expiresAt, opened } : { url: link.url, expiresAt: link.expiresAt, opened },
          );
          return 0;
        }
        if (opened) {
          if (!ctx.global.quiet)
            process.stderr.write(
              `opened the dashboard in your browser (${client.endpoint.url}) through ${page}\n` +
                // A sandboxed browser (a snap) may not read files under hidden directories.
                'a browser that cannot read that file: `nommer dashboard --print` prints the link\n',
            );
        } else {
          process.stdout.write(`${link.url}\n`);
          if (!ctx.global.quiet)
            process.stderr.write(
              `open this link in a browser on this machine: it logs you in once, within a minute${
                why && why !== 'asked to print' ? ` (no browser opened: ${why})` : ''
              }\n`,
            );
        }
        return 0;
      }),
    );
}
