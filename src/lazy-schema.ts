// Schemas built on their first use instead of when their module loads. Every nommer process loads
// the modules that define its records, but each parses only some of them: feederd built 2,085 zod
// schema objects before it was ready and a worker 1,561, yet neither parses a preset, an API answer
// or a task message until a job comes (and feederd never parses an API answer). A module defines
// such a schema as `export const x = lazySchema(() => z.object(...))` and its callers say
// `x().parse(...)`; the schema is the same object on every call, so one record still has one
// schema, and its type is `z.infer<ReturnType<typeof x>>`.
//
// Importing zod-setup here makes jitless apply before any of these is built, whichever module a
// process (or a test) loads first.
import './zod-setup.js';

/** `build`'s result, made on the first call and the same object on every call after. */
export function lazySchema<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}
