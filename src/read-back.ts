// Reading back what nommer itself wrote (a job row's JSON column, feederd.json, the release pins):
// parsed once with the record's schema where it enters, so nothing downstream casts. What does not
// read back was written by another version or edited by hand: one clear DATA_INVALID error that
// names it and says what to do, never a crash deeper in.
import type * as z from 'zod';
import { NommerError } from './errors.js';

/** `text` (JSON) as `schema` says, or DATA_INVALID naming `what`, with `hint`. */
export function readBack<S extends z.ZodType>(schema: S, text: string, what: string, hint: string): z.output<S> {
  let why = 'not JSON';
  try {
    const r = schema.safeParse(JSON.parse(text));
    if (r.success) return r.data;
    const issue = r.error.issues[0];
    why = issue ? `${issue.path.join('.') || 'value'}: ${issue.message}` : 'does not match';
  } catch {
    /* not JSON */
  }
  throw new NommerError('DATA_INVALID', `${what} does not read back (${why})`, { hint });
}
