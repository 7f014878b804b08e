// The CLI as a user meets it: real binary, real ffmpeg. Bad input gets one clear line and the
// documented exit code (1 failed, 2 usage/config), never a stack trace.
//
// A `nommer` start costs about a second of CPU, so where a test asks the same binary several
// things, the first goes through the real binary (exit status, stderr as a user sees them) and the
// rest through main() in this process (helpers/srv-inproc.ts): the code main returns is the exit
// status bin/nommer gives, and a stack trace would reach this process as a thrown error.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { NOMMER_BIN, nommerSync } from './helpers/cli.js';
import { nommerInProcess } from './helpers/srv-inproc.js';
import { FAST_VIDEO } from './helpers/srv-cheap.js';

const d = tempDir();
after(() => d.cleanup());
const env = { NOMMER_HOME: join(d.path, 'home') };
const clip = makeClip(join(d.path, 'clip.mov'), { seconds: 1, width: 160, height: 120 });

function noStack(stderr: string) {
  assert.doesNotMatch(stderr, /\n\s+at .+\(.*:\d+:\d+\)/, 'no stack trace');
}

test('nommer encode makes clip.webm beside the input, and prints it', () => {
  // The fastest VP9: what is tested is the command, not the encoder's effort.
  const r = nommerSync(['encode', clip, '--set', FAST_VIDEO[0]!], { env, cwd: d.path });
  assert.equal(r.code, 0, r.stderr);
  const out = join(d.path, 'clip.webm');
  assert.match(r.stdout, /clip\.webm\s+\(webm, [\d.]+ KiB\)/);
  const p = probe(out);
  assert.match(p.format.format_name, /webm/);
  assert.deepEqual(p.streams.map((s) => s.codec_name).sort(), ['opus', 'vp9']);
  assert.deepEqual(
    readdirSync(d.path).filter((n) => n.includes('nommer-part')),
    [],
  );
});

test('encode --json reports outputs; --dry-run --json prints argv arrays and writes nothing', async () => {
  const r = nommerSync(['encode', clip, '-p', 'opus', '-o', join(d.path, 'a.opus'), '--json'], { env, cwd: d.path });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { outputs: Array<{ preset: string; path: string; bytes: number }> };
  assert.equal(j.outputs[0]!.preset, 'opus');
  assert.ok(j.outputs[0]!.bytes > 0);
  const dry = await nommerInProcess(
    ['encode', clip, '-p', 'av1', '-o', join(d.path, 'dry.webm'), '--dry-run', '--json'],
    {
      env,
      cwd: d.path,
    },
  );
  assert.equal(dry.code, 0, dry.stderr);
  const cmds = (JSON.parse(dry.stdout) as { commands: string[][] }).commands;
  assert.equal(cmds.length, 1);
  assert.match(cmds[0]![0]!, /ffmpeg$/);
  assert.ok(cmds[0]!.includes(join(d.path, 'dry.webm')));
  assert.equal(existsSync(join(d.path, 'dry.webm')), false);
});

test('presets --json lists every built-in preset; presets NAME shows one', async () => {
  const r = nommerSync(['presets', '--json'], { env, cwd: d.path });
  assert.equal(r.code, 0, r.stderr);
  const names = (JSON.parse(r.stdout) as Array<{ name: string }>).map((p) => p.name).sort();
  assert.deepEqual(names, ['abr', 'abr-av1', 'av1', 'ogg', 'opus', 'poster', 'webm', 'webm-2pass', 'webm-vp8']);
  const one = await nommerInProcess(['presets', 'webm', '--json'], { env, cwd: d.path });
  assert.equal((JSON.parse(one.stdout) as { container: string }).container, 'webm');
});

test('doctor names the ffmpeg it found and its encoders', () => {
  const r = nommerSync(['doctor', '--json'], { env, cwd: d.path });
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as {
    ffmpeg: { path: string; source: string; encoders: string[] };
    presets: Array<{ runnable: boolean }>;
  };
  assert.ok(rep.ffmpeg.path);
  assert.ok(['path', 'ffmpeg-static', 'env', 'config'].includes(rep.ffmpeg.source));
  assert.ok(rep.ffmpeg.encoders.includes('libvpx-vp9'));
  const bad = nommerSync(['doctor'], { env: { ...env, NOMMER_FFMPEG: '/nonexistent/ffmpeg' }, cwd: d.path });
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /ffmpeg:\s+NOT FOUND/);
});

const cases: Array<{ name: string; args: string[]; code: number; pattern: RegExp; setup?: () => void; cwd?: string }> =
  [
    {
      name: 'missing file',
      args: ['encode', 'nope.mov'],
      code: 1,
      pattern: /input not found: nope\.mov \[INPUT_NOT_FOUND\]/,
    },
    {
      name: 'a text file renamed .mov',
      args: ['encode', 'notes.mov'],
      code: 1,
      pattern: /cannot decode .*notes\.mov.*\[INPUT_UNDECODABLE\]/,
      setup: () => writeFileSync(join(d.path, 'notes.mov'), 'hello\n'.repeat(100)),
    },
    { name: 'unknown preset', args: ['encode', 'clip.mov', '-p', 'mp4'], code: 2, pattern: /unknown preset "mp4"/ },
    {
      name: 'bad --set value',
      args: ['encode', 'clip.mov', '--set', 'video.crf=abc'],
      code: 2,
      pattern: /video\.crf must be/,
    },
    { name: 'bad --set key', args: ['encode', 'clip.mov', '--set', 'video.nope=1'], code: 2, pattern: /video\.nope/ },
    {
      name: '--set that tries to inject options',
      args: ['encode', 'clip.mov', '--set', 'audio.bitrate=96k -f lavfi'],
      code: 2,
      pattern: /audio\.bitrate/,
    },
    {
      name: 'a --set value holding a newline and an escape sequence',
      args: ['encode', 'clip.mov', '--set', 'video.crf=3\n0\u001b[2J'],
      code: 2,
      pattern: /video\.crf must be a whole number from 0 to 63, got "3\\n0\\u001b\[2J"/,
    },
    {
      name: 'a file name holding an escape sequence',
      args: ['encode', 'no\u001b[31msuch.mov'],
      code: 1,
      pattern: /input not found: no\\u001b\[31msuch\.mov/,
    },
    {
      name: 'a bad number holding an escape sequence (commander reports it)',
      args: ['status', '--limit', '\u001b[2Jten'],
      code: 2,
      pattern: /--limit must be a whole number from 1 to 1000, got "\\u001b\[2Jten"/,
    },
    { name: 'unknown flag', args: ['encode', 'clip.mov', '--bogus'], code: 2, pattern: /unknown option '--bogus'/ },
    { name: 'bad number', args: ['status', '--limit', 'ten'], code: 2, pattern: /--limit must be a whole number/ },
    { name: 'broken config', args: ['presets'], code: 2, pattern: /cannot read config/, cwd: 'broken' },
    {
      name: 'invalid config value',
      args: ['presets'],
      code: 2,
      pattern: /aws\.ec2\.maxInstances must be a whole number ≥ 0, got "ten"/,
      cwd: 'invalid',
    },
  ];

// The first case of each exit code through the real binary, the others in this process.
const throughBinary = new Set([cases.find((c) => c.code === 1)!.name, cases.find((c) => c.code === 2)!.name]);
for (const c of cases) {
  test(`bad input: ${c.name} -> one clear line, exit ${c.code}`, async () => {
    c.setup?.();
    let cwd = d.path;
    if (c.cwd === 'broken') {
      cwd = tempDir().path;
      writeFileSync(join(cwd, 'nommer.config.json'), '{ "backend": ');
    }
    if (c.cwd === 'invalid') {
      cwd = tempDir().path;
      writeFileSync(join(cwd, '.nommerrc.json'), JSON.stringify({ aws: { ec2: { maxInstances: 'ten' } } }));
    }
    const r = throughBinary.has(c.name)
      ? nommerSync(c.args, { env, cwd })
      : await nommerInProcess(c.args, { env, cwd });
    assert.equal(r.code, c.code, `stderr: ${r.stderr}`);
    // One error line says it (a config error lists its problems on indented lines below it), and
    // nothing the user gave reaches the terminal as a control character.
    const errorLines = r.stderr.split('\n').filter((l) => /^(nommer|error): /.test(l));
    assert.equal(errorLines.length, 1, r.stderr);
    assert.match(c.cwd === 'invalid' ? r.stderr : errorLines[0]!, c.pattern);
    assert.doesNotMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f]/);
    noStack(r.stderr);
    assert.equal(existsSync(join(d.path, 'clip.webm.partial')), false);
  });
}

test('--help teaches: examples on the program and on encode', async () => {
  const r = nommerSync(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Examples:/);
  assert.match(r.stdout, /submit/);
  const e = await nommerInProcess(['encode', '--help']);
  assert.equal(e.code, 0);
  assert.match(e.stdout, /--set <key=value>/);
  assert.match(nommerSync(['--version']).stdout, /^\d+\.\d+\.\d+/);
});

test('a reader that closes the pipe early (`nommer --help | head -1`) ends nommer quietly, exit 0', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash expands it, not JavaScript
  const script = '"$0" "$1" --help | head -c 10 >/dev/null; echo "nommer exit ${PIPESTATUS[0]}" >&2';
  const r = spawnSync('bash', ['-c', script, process.execPath, NOMMER_BIN], { encoding: 'utf8' });
  assert.match(r.stderr, /nommer exit 0/);
  assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /, r.stderr);
});

test('a feederd.json that does not read back is one clear line naming it, not a stack trace', () => {
  const home = join(d.path, 'bad-endpoint-home');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'feederd.json'), '{"url": 42}\n');
  const r = nommerSync(['status'], { env: { NOMMER_HOME: home }, cwd: d.path });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /feederd\.json does not read back \(url: .*\[DATA_INVALID\]/);
  assert.match(r.stderr, /remove it/);
  noStack(r.stderr);
});

test('start-up loads only the command argv names; help, typos and unknown options load every command', async () => {
  const { commandNamed, loadCommands } = await import('../src/commands/index.js');
  const argv = (...a: string[]) => ['node', 'nommer', ...a];
  assert.equal(commandNamed(argv('encode', 'x.mov')), 'encode');
  assert.equal(commandNamed(argv('--json', '-c', 'encode', 'retry', 'j1')), 'retry');
  assert.equal(commandNamed(argv('--config=a.json', '-q', 'fleet', 'user-data')), 'fleet');
  for (const a of [['--help'], ['help', 'encode'], ['encod', 'x'], ['-x', 'encode'], []])
    assert.equal(commandNamed(argv(...a)), undefined, a.join(' '));
  assert.equal((await loadCommands(argv('encode'))).length, 1);
  assert.equal((await loadCommands(argv('help'))).length, 13);
  // The user-facing side: a typo is still answered with the command it resembles.
  const typo = nommerSync(['encod', clip]);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /did you mean encode\?/i);
  const help = await nommerInProcess(['help', 'encode']);
  assert.match(help.stdout, /--set <key=value>/);
});
