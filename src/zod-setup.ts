// Imported first by the CLI, before any module builds a schema: zod 4 compiles a parser for each
// object schema on its first parse (new Function) unless jitless is set when the schema is built.
// A nommer process parses most schemas a handful of times, so the compile is pure cost: the config
// schema's first parse took 16 ms with it and 4 ms without, and a status event parses no slower
// afterwards (7 µs either way, measured over 20 000 parses), so feederd loses nothing either.
import * as z from 'zod';

z.config({ jitless: true });
