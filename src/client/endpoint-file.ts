// feederd.json in the data dir: where a running feederd answers (address, pid) and the API token it
// made, kept between runs. Written by feederd (orchestrator/feederd.ts), read by the CLI's client
// and daemon control and by the next feederd (its kept token): one schema for all of them.
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as z from 'zod';
import { readBack } from '../read-back.js';

export const endpointFile = z.object({
  /** Absent once feederd stopped: the token stays for the next run. */
  url: z.string().min(1).optional(),
  pid: z.number().int().positive().optional(),
  token: z.string().optional(),
  /** The token was made by feederd (not configured), so the next run may keep it. */
  generated: z.literal(true).optional(),
});
export type EndpointFile = z.infer<typeof endpointFile>;

/** The file's record; null when there is none. A file that does not read back is DATA_INVALID. */
export function readEndpointFile(path: string): EndpointFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  return readBack(endpointFile, text, path, 'remove it: feederd writes it again when it starts');
}

/** Like readEndpointFile, but a file that does not read back counts as none (feederd rewrites it). */
export function readEndpointFileOrNone(path: string): EndpointFile | null {
  try {
    return readEndpointFile(path);
  } catch {
    return null;
  }
}

/** Write beside and rename into place (a client polling for the file never reads half of it), 0600. */
export function writeEndpointFile(path: string, rec: EndpointFile): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(endpointFile.parse(rec))}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}
