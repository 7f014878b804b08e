// The dependency rules of DESIGN.md ("Dependency rules"), checked by `npm run lint` (depcruise
// src): each forbidden rule below is one sentence of that page. dependency-cruiser resolves every
// import to the file it loads (so `../abr/x.js` and `./x.js` are the same module), tells type-only
// imports from runtime ones, and follows imports transitively: the core must not reach a feature
// through a module in between, and cycles are found across any number of files.
// test/lint-layers.test.ts runs these rules on small file trees, so a rule cannot silently vanish.

/** The pure core: the job model and state machine, the message schema, the ports, the errors. */
const CORE = '^src/(jobs/|messages\\.ts$|ports/|errors\\.ts$)';

/** Features (what nommer can make) and roles (who runs what), and the composition files at the root. */
const FEATURES_AND_ROLES = [
  '^src/(abr|quality|chunked|cost|fleet|presets|ffmpeg|orchestrator|worker|commands|client|cli|tui|adapters|dashboard)/',
  '^src/(cli|backends|config|doctor|encode|jobspec|aws-settings|scratch)\\.ts$',
];
/** Vocabulary the message schema may carry, not features: a preset's schema, ffprobe's types (zod only, no I/O). */
const VOCABULARY = '^src/(presets/schema|ffmpeg/types)\\.ts$';

/** Resolved paths of the SDKs with effects (types from @types included). */
const SDKS = '(^|/)node_modules/(@types/)?(@aws-sdk/|better-sqlite3/)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-no-feature-or-role',
      severity: 'error',
      comment:
        'The state machine, the message schema and the ports know no feature (packages, quality, chunking, cost, fleet) and no role (orchestrator, worker, commands, client), not even by type: pass what they need in, or move the plain type into the core.',
      from: { path: CORE },
      to: { path: FEATURES_AND_ROLES, pathNot: VOCABULARY },
    },
    {
      name: 'core-reaches-no-feature-or-role',
      severity: 'error',
      comment:
        "Nor through a module in between (e.g. a task-kind registry the message schema reads its schemas from must not bring the kinds' runners along).",
      from: { path: CORE },
      to: { path: FEATURES_AND_ROLES, pathNot: VOCABULARY, reachable: true },
    },
    {
      name: 'core-does-no-io',
      severity: 'error',
      comment:
        'The core is pure: no Node built-in (fs, child_process, net, ...) and no package but zod; time and effects are parameters or ports.',
      from: { path: CORE },
      to: {
        dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
        pathNot: '(^|/)node_modules/zod/',
      },
    },
    {
      name: 'orchestrator-and-worker-apart',
      severity: 'error',
      comment:
        'src/orchestrator/ and src/worker/ never import each other: they meet only through the ports and the message schema, so a worker runs on a machine with no orchestrator.',
      from: { path: '^src/(orchestrator|worker)/' },
      to: { path: '^src/(orchestrator|worker)/', pathNot: '^src/$1/' },
    },
    {
      name: 'feederd-loads-no-encoder',
      severity: 'error',
      comment:
        'Nothing feederd loads reaches the worker or the code that runs ffmpeg to encode (ffmpeg/run.ts, which every encoder uses): cleanup and planning need storage and ffprobe only.',
      from: { path: '^src/orchestrator/' },
      to: { path: '^src/(worker/|ffmpeg/run\\.ts$)', reachable: true },
    },
    {
      name: 'sdk-only-in-adapters',
      severity: 'error',
      comment:
        'Only adapters import @aws-sdk/* or better-sqlite3 (types included): logic sees ports; src/adapters/local/db.ts re-exports the SQLite types the store needs.',
      from: { pathNot: '^src/adapters/' },
      to: { path: SDKS },
    },
    {
      name: 'ink-only-in-views',
      severity: 'error',
      comment: 'Ink and React are imported by the views (src/tui/*.tsx) only.',
      from: { pathNot: '^src/tui/[^/]+\\.tsx$' },
      to: { path: '(^|/)node_modules/(@types/)?(ink|react)/' },
    },
    {
      name: 'views-only-from-commands',
      severity: 'error',
      comment:
        'The terminal UI (src/tui/, the Ink views with it) is imported only by the commands that show it; the orchestrator and the worker never load it.',
      from: { pathNot: '^src/(commands|tui)/' },
      to: { path: '^src/tui/' },
    },
    {
      name: 'commands-only-from-cli',
      severity: 'error',
      comment: 'Commands are thin and nothing imports a command but the CLI entry.',
      from: { pathNot: '^src/(cli\\.ts$|commands/)' },
      to: { path: '^src/commands/' },
    },
    {
      name: 'abr-and-chunked-apart',
      severity: 'error',
      comment:
        'Features do not import each other, not even by type: what packages (abr/) and chunked jobs (chunked/) share lives in a module both use (the piece protocol src/pieces.ts, the task kinds src/tasks/), and where a package uses what a chunked job does (a video chunk, the join), the worker\'s runner table (src/worker/runners.ts) puts them together.',
      from: { path: '^src/(abr|chunked)/' },
      to: { path: '^src/(abr|chunked)/', pathNot: '^src/$1/' },
    },
    {
      name: 'no-runtime-cycle',
      severity: 'error',
      comment:
        'No runtime import cycle between files of src/ (type-only imports are erased and do not count): a cycle makes load order matter and the files inseparable.',
      from: { path: '^src/' },
      to: {
        circular: true,
        dependencyTypesNot: ['type-only'],
        viaOnly: { dependencyTypesNot: ['type-only'] },
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/dashboard/public/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // ESM packages (ink) resolve through their `exports`.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
