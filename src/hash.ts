// A file's SHA-256 in hex, read as a stream (chunk manifests, the release pin, staged deliveries).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}
