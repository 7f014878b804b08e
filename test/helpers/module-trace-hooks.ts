// The ESM side of module-trace.ts (module.register runs it off the main thread): each module's
// URL, as it is loaded, appended to the process's trace file.
import { appendFileSync } from 'node:fs';
import type { InitializeHook, LoadHook } from 'node:module';

let file: string | undefined;

export const initialize: InitializeHook<{ file: string }> = (data) => {
  file = data.file;
};

export const load: LoadHook = (url, context, next) => {
  if (file) appendFileSync(file, `${url}\n`);
  return next(url, context);
};
