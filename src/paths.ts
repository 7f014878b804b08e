// Where nommer's own files are (templates, migrations) and where its data goes (NOMMER_HOME).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package root: the nearest folder above this module with nommer's package.json. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'media-nommer') return (root = dir);
    dir = dirname(dir);
  }
  throw new Error('cannot find the media-nommer package root');
}

/** bin/nommer of this package: what feederd starts workers and the daemon with. */
export function nommerBin(): string {
  return join(packageRoot(), 'bin', 'nommer');
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** Files under the data directory. */
export function dataPaths(home: string) {
  return {
    home,
    db: join(home, 'nommer.db'),
    pid: join(home, 'feederd.pid'),
    log: join(home, 'feederd.log'),
    workerLog: join(home, 'workers.log'),
    /** Address (and token) of the running feederd, for clients. */
    api: join(home, 'feederd.json'),
    work: join(home, 'work'),
  };
}
