// Every command, registered on the program in the order `--help` shows them.
import type { Command } from 'commander';
import { registerDoctor } from './doctor.js';
import { registerEncode } from './encode.js';
import { registerPresets } from './presets.js';

export function registerCommands(program: Command): void {
  registerEncode(program);
  registerPresets(program);
  registerDoctor(program);
}
