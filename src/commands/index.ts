// Every command, registered on the program in the order `--help` shows them.
import type { Command } from 'commander';
import { registerCancelRetry } from './cancel.js';
import { registerDashboard } from './dashboard.js';
import { registerDoctor } from './doctor.js';
import { registerEncode } from './encode.js';
import { registerFeederd } from './feederd.js';
import { registerFleet } from './fleet.js';
import { registerPresets } from './presets.js';
import { registerPrune } from './prune.js';
import { registerSetup } from './setup.js';
import { registerStatus } from './status.js';
import { registerSubmit } from './submit.js';
import { registerWatch } from './watch.js';
import { registerWorker } from './worker.js';

export function registerCommands(program: Command): void {
  registerSubmit(program);
  registerWatch(program);
  registerEncode(program);
  registerStatus(program);
  registerDashboard(program);
  registerCancelRetry(program);
  registerPrune(program);
  registerPresets(program);
  registerDoctor(program);
  registerSetup(program);
  registerFeederd(program);
  registerWorker(program);
  registerFleet(program);
}
