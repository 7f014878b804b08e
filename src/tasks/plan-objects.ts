// What a plan stores before its job is created: the objects its tasks read by reference (a
// package's piece list), so that no message carries a list that grows with the title.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PlannedObject } from './planned.js';
import type { Storage } from '../ports/storage.js';

export async function storePlannedObjects(
  storage: Storage,
  tasks: ReadonlyArray<{ objects?: readonly PlannedObject[] }>,
): Promise<void> {
  const objects = tasks.flatMap((t) => t.objects ?? []);
  if (!objects.length) return;
  const dir = await mkdtemp(join(tmpdir(), 'nommer-plan-'));
  try {
    for (const [i, o] of objects.entries()) {
      const file = join(dir, `object-${i}.json`);
      await writeFile(file, o.text);
      await storage.store(file, o.uri, { overwrite: true });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
