// A client for commands that need a running feederd (status, cancel, retry): a clear error, not
// a stack trace, when none runs.
import type { LoadedConfig } from '../config.js';
import { NommerError } from '../errors.js';
import type { ApiClient } from './api-client.js';
import { findRunning } from './daemon.js';

export async function requireFeederd(loaded: LoadedConfig, api?: string): Promise<ApiClient> {
  const c = await findRunning(loaded, api);
  if (!c)
    throw new NommerError('API_UNREACHABLE', `feederd is not running for data dir ${loaded.home}`, {
      hint: 'start it with `nommer feederd --daemon` (`nommer submit` starts it for you)',
    });
  return c;
}
