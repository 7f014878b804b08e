// The parts of an output's quality record beyond its mean scores (jobs/outputs.ts): what it kept
// of an HDR source. Schemas of the job record, so the core reads them without importing the
// features that write them.
import { z } from 'zod';
import type { OutputHdr } from '../ffmpeg/types.js';

export const outputHdrSchema = z.object({
  source: z.enum(['pq', 'hlg']),
  mode: z.enum(['kept', 'tonemapped']),
  transfer: z.enum(['pq', 'hlg', 'bt709']),
  bitDepth: z.union([z.literal(8), z.literal(10)]),
  masteringDisplay: z.boolean(),
  contentLight: z.boolean(),
  notCarried: z.array(z.string()).optional(),
}) satisfies z.ZodType<OutputHdr>;
