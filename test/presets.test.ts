// Unit tests of presets: the registry (extends, user presets, errors), overrides (good, bad,
// injection attempts), and the compiler's decisions (sizes, ladder, encoders, audio layouts,
// rotation, deinterlacing, commands). No ffmpeg runs here; see presets-encode.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NommerError } from '../src/errors.js';
import type { AudioStreamInfo, ProbeInfo } from '../src/ffmpeg/types.js';
import {
  audioKbps,
  chooseEncoder,
  compileJob,
  fpsFactor,
  ladderRate,
  outputSize,
  requiredEncoders,
  tileColumns,
} from '../src/presets/compile.js';
import { applyOverrides } from '../src/presets/overrides.js';
import {
  builtinPresetsDir,
  createRegistry,
  getPreset,
  listPresets,
  parseResolvedPreset,
} from '../src/presets/registry.js';
import { MESSAGE_VERSION, receivedTask } from '../src/messages.js';
import type { ResolvedPreset } from '../src/presets/schema.js';
import { ALL_ENCODERS, audio, probeOf, video } from './helpers/probe-info.js';

const BUILTINS = ['abr', 'abr-av1', 'av1', 'ogg', 'opus', 'poster', 'webm', 'webm-2pass', 'webm-vp8'];

function compile(
  presets: Array<ResolvedPreset | string>,
  probe: ProbeInfo,
  encoders: ReadonlySet<string> = ALL_ENCODERS,
) {
  return compileJob({
    input: 'file:/in/clip.mp4',
    probe,
    outputs: presets.map((p, i) => ({ preset: typeof p === 'string' ? getPreset(p) : p, path: `/out/o${i}` })),
    encoders,
    passlogDir: '/tmp/passlog',
  });
}
/** The value after `flag` in args (first occurrence), or undefined. */
function opt(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}
function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof NommerError, `expected a NommerError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected an error');
}
function error(fn: () => unknown): NommerError {
  try {
    fn();
  } catch (err) {
    if (err instanceof NommerError) return err;
    throw err;
  }
  assert.fail('expected an error');
}

describe('preset registry', () => {
  it('finds templates/presets from the compiled module and lists the nine built-ins', () => {
    assert.match(builtinPresetsDir(), /templates[/\\]presets$/);
    assert.deepEqual(
      listPresets().map((p) => p.name),
      BUILTINS,
    );
  });

  it('every built-in resolves to a complete preset whose container can carry its codecs', () => {
    for (const p of listPresets()) {
      assert.ok(p.description.length > 10, p.name);
      if (p.video && p.video.codec !== 'webp')
        assert.ok(p.video.ladder && p.video.ladder.length > 0, `${p.name} has a ladder`);
      for (const r of requiredEncoders(p)) assert.ok(chooseEncoder(r.codec, ALL_ENCODERS), `${p.name} ${r.codec}`);
    }
  });

  it('webm-2pass extends webm: two passes, and everything else inherited', () => {
    const webm = getPreset('webm'),
      two = getPreset('webm-2pass');
    assert.equal(two.video!.passes, 2);
    assert.equal(two.video!.firstPassSpeed, 4);
    assert.deepEqual(two.video!.ladder, webm.video!.ladder);
    assert.deepEqual(two.audio, webm.audio);
    assert.equal(two.container, 'webm');
  });

  it('av1 extends webm, unsets the VP9 speed so its per-encoder tuning applies, and scales the ladder down', () => {
    const av1 = getPreset('av1');
    assert.equal(av1.video!.codec, 'av1');
    assert.equal(av1.video!.speed, undefined);
    assert.deepEqual(av1.video!.tuning, { libsvtav1: { crf: 35, speed: 8 }, 'libaom-av1': { crf: 34, speed: 6 } });
    assert.equal(av1.video!.bitrateScale, 0.7);
    assert.equal(av1.audio!.codec, 'opus');
  });

  it('a user preset extends a built-in with a deep merge: only what it says changes', () => {
    const reg = createRegistry({
      small: {
        extends: 'webm',
        description: 'small',
        video: { maxWidth: 640, maxHeight: 360 },
        audio: { bitrate: '96k' },
      },
    });
    const p = reg.getPreset('small');
    assert.equal(p.name, 'small');
    assert.equal(p.video!.maxWidth, 640);
    assert.equal(p.video!.codec, 'vp9');
    assert.deepEqual(p.video!.ladder, getPreset('webm').video!.ladder);
    assert.equal(p.audio!.bitrate, '96k');
    assert.equal(p.audio!.sampleRate, 48000);
    assert.deepEqual(reg.names(), [...BUILTINS, 'small'].sort());
  });

  it('a user preset may replace a built-in, building on it with extends of its own name', () => {
    const reg = createRegistry({ webm: { extends: 'webm', video: { keyframeSeconds: 2 } } });
    assert.equal(reg.getPreset('webm').video!.keyframeSeconds, 2);
    assert.equal(reg.getPreset('webm').video!.codec, 'vp9');
    // Other presets that extend webm now build on the user's webm.
    assert.equal(reg.getPreset('webm-2pass').video!.keyframeSeconds, 2);
  });

  it('extends cycles, unknown parents, unknown keys and bad values are PRESET_INVALID naming the preset', () => {
    const cyc = error(() => createRegistry({ a: { extends: 'b' }, b: { extends: 'a' } }).getPreset('a'));
    assert.equal(cyc.code, 'PRESET_INVALID');
    assert.match(cyc.message, /cycle: a -> b -> a/);
    const self = error(() => createRegistry({ x: { extends: 'x' } }).getPreset('x'));
    assert.equal(self.code, 'PRESET_INVALID');
    const parent = error(() => createRegistry({ a: { extends: 'nope' } }).getPreset('a'));
    assert.equal(parent.code, 'PRESET_INVALID');
    assert.match(parent.message, /"a" extends unknown preset "nope"/);
    const key = error(() => createRegistry({ a: { extends: 'webm', video: { crff: 3 } } }));
    assert.equal(key.code, 'PRESET_INVALID');
    assert.match(key.message, /video/);
    assert.match(key.hint!, /config presets\.a/);
    const range = error(() => createRegistry({ a: { extends: 'webm', video: { crf: 99 } } }).getPreset('a'));
    assert.equal(range.code, 'PRESET_INVALID');
    const mismatch = error(() =>
      createRegistry({ a: { extends: 'webm', audio: { codec: 'vorbis' }, container: 'opus', video: null } }).getPreset(
        'a',
      ),
    );
    assert.equal(mismatch.code, 'PRESET_INVALID');
    assert.match(mismatch.message, /opus cannot carry vorbis/);
  });

  it('a built-in folder with a broken file is PRESET_INVALID naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nommer-presets-'));
    writeFileSync(join(dir, 'bad.json'), '{ "name": "bad", ');
    const e = error(() => createRegistry({}, { dir }));
    assert.equal(e.code, 'PRESET_INVALID');
    assert.ok(e.message.includes(join(dir, 'bad.json')));
  });

  it('an unknown preset is PRESET_UNKNOWN and the hint lists the known ones', () => {
    const e = error(() => getPreset('webm9'));
    assert.equal(e.code, 'PRESET_UNKNOWN');
    assert.equal(e.message, 'unknown preset "webm9"');
    assert.equal(e.hint, `run \`nommer presets\` to list them; known: ${BUILTINS.join(', ')}`);
  });
});

describe('overrides', () => {
  it('coerce strings to the field types and reach the ffmpeg arguments', () => {
    const p = applyOverrides(getPreset('webm'), [
      'video.crf=30',
      'audio.bitrate=96k',
      'video.keyframeSeconds=2.5',
      'video.highBitDepth=true',
      'video.deinterlace=yadif',
      'video.passes=2',
    ]);
    assert.equal(p.video!.crf, 30);
    assert.equal(p.video!.keyframeSeconds, 2.5);
    assert.equal(p.video!.highBitDepth, true);
    assert.equal(p.video!.passes, 2);
    const { commands } = compile([p], probeOf(video(), audio()));
    const last = commands[commands.length - 1]!.args;
    assert.equal(opt(last, '-crf'), '30');
    assert.equal(opt(last, '-b:a'), '96k');
    assert.equal(opt(last, '-g'), '75');
  });

  it('audio=none drops the audio stream', () => {
    const p = applyOverrides(getPreset('webm'), ['audio=none']);
    assert.equal(p.audio, null);
    const args = compile([p], probeOf(video(), audio())).commands[0]!.args;
    assert.ok(!args.includes('-c:a'));
    assert.ok(!args.includes('0:1'));
  });

  it("an unknown key is OVERRIDE_INVALID naming it and listing the section's keys", () => {
    const e = error(() => applyOverrides(getPreset('webm'), ['video.crff=30']));
    assert.equal(e.code, 'OVERRIDE_INVALID');
    assert.match(e.message, /unknown override key "video\.crff"/);
    assert.match(e.hint!, /video\.crf, /);
    assert.match(e.hint!, /video\.maxWidth/);
    assert.doesNotMatch(e.hint!, /audio\./);
    assert.equal(
      code(() => applyOverrides(getPreset('webm'), ['format.x=1'])),
      'OVERRIDE_INVALID',
    );
    assert.equal(
      code(() => applyOverrides(getPreset('webm'), ['video.crf'])),
      'OVERRIDE_INVALID',
    );
    assert.equal(
      code(() => applyOverrides(getPreset('webm'), ['video.ladder.0=1'])),
      'OVERRIDE_INVALID',
    );
    // The codec is what a preset is, not a setting.
    assert.equal(
      code(() => applyOverrides(getPreset('webm'), ['video.codec=vp8'])),
      'OVERRIDE_INVALID',
    );
    const none = error(() => applyOverrides(getPreset('opus'), ['video.crf=30']));
    assert.match(none.message, /has no video/);
  });

  it('a wrong type or range is OVERRIDE_INVALID saying what the key takes', () => {
    const cases: Array<[string, RegExp]> = [
      ['video.crf=high', /video\.crf must be a whole number from 0 to 63, got "high"/],
      ['video.crf=64', /video\.crf must be a whole number from 0 to 63/],
      ['video.crf=30.5', /whole number/],
      ['video.highBitDepth=maybe', /true or false/],
      ['video.deinterlace=nnedi', /one of: bwdif, yadif/],
      ['video.passes=3', /one of: 1, 2/],
      ['audio.bitrate=loud', /a bitrate like 96k/],
      ['audio.sampleRate=44000', /one of: 8000/],
      ['video.keyframeSeconds=11', /from 0\.5 to 10/],
    ];
    for (const [o, re] of cases) {
      const e = error(() => applyOverrides(getPreset('webm'), [o]));
      assert.equal(e.code, 'OVERRIDE_INVALID', o);
      assert.match(e.message, re, o);
    }
    // What the user gave is quoted as JSON: a newline or an escape sequence in it cannot split
    // the one-line error or reach the terminal.
    const odd = error(() => applyOverrides(getPreset('webm'), ['video.crf=3\n0\u001b[2J']));
    assert.equal(odd.message, 'video.crf must be a whole number from 0 to 63, got "3\\n0\\u001b[2J"');
    const oddKey = error(() => applyOverrides(getPreset('webm'), ['video.cr\nf=30']));
    assert.equal(oddKey.message, 'unknown override key "video.cr\\nf"');
    // Valid alone, invalid for the codec: checked across fields.
    const vp8 = error(() => applyOverrides(getPreset('webm-vp8'), ['video.crf=2']));
    assert.equal(vp8.code, 'OVERRIDE_INVALID');
    assert.match(vp8.message, /vp8 crf is 4-63/);
  });

  it('no value can inject an ffmpeg option', () => {
    const attempts = [
      'video.crf=30 -f lavfi',
      'video.crf=30\n-f',
      'video.crf=-1',
      'video.speed=-8',
      'video.maxWidth=1920 -i /etc/passwd',
      'audio.bitrate=-i',
      'audio.bitrate=96k -vf drawtext',
      'audio.bitrate=96k,aresample',
      'video.deinterlace=yadif,drawtext=text=x',
      'video.deinterlace=-vf',
      'video.highBitDepth=-y',
      'audio.sampleRate=48000 -f null',
      'video=-vf scale=1:1',
      'video.crf=0x1e',
      'video.crf= 30',
    ];
    for (const a of attempts) {
      assert.equal(
        code(() => applyOverrides(getPreset('webm'), [a])),
        'OVERRIDE_INVALID',
        a,
      );
    }
  });
});

describe('geometry', () => {
  it('fits the displayed size into the box, only ever down, with even dimensions', () => {
    assert.deepEqual(outputSize({ displayWidth: 1920, displayHeight: 1080 }, 1920, 1080), {
      width: 1920,
      height: 1080,
    });
    assert.deepEqual(outputSize({ displayWidth: 3840, displayHeight: 2160 }, 1920, 1080), {
      width: 1920,
      height: 1080,
    });
    assert.deepEqual(outputSize({ displayWidth: 4000, displayHeight: 3000 }, 1920, 1080), {
      width: 1440,
      height: 1080,
    });
    assert.deepEqual(outputSize({ displayWidth: 2560, displayHeight: 800 }, 1920, 1080), { width: 1920, height: 600 });
    assert.deepEqual(outputSize({ displayWidth: 160, displayHeight: 120 }, 1920, 1080), { width: 160, height: 120 });
    assert.deepEqual(outputSize({ displayWidth: 321, displayHeight: 241 }, 1920, 1080), { width: 320, height: 240 });
    // The box turns with the picture: a portrait phone video keeps its 1080x1920.
    assert.deepEqual(outputSize({ displayWidth: 1080, displayHeight: 1920 }, 1920, 1080), {
      width: 1080,
      height: 1920,
    });
    assert.deepEqual(outputSize({ displayWidth: 2160, displayHeight: 3840 }, 1920, 1080), {
      width: 1080,
      height: 1920,
    });
  });

  it('odd sizes are scaled to even dimensions even when no fit is needed', () => {
    const out = compile(['webm'], probeOf(video({ width: 321, height: 241 }), audio()));
    assert.equal(opt(out.commands[0]!.args, '-vf'), 'scale=320:240,setsar=1');
    assert.deepEqual([out.outputs[0]!.video!.width, out.outputs[0]!.video!.height], [320, 240]);
  });

  it('a source already at its output size is not filtered at all', () => {
    const args = compile(['webm'], probeOf(video({ width: 1280, height: 720 }), audio())).commands[0]!.args;
    assert.equal(opt(args, '-vf'), undefined);
  });

  it('anamorphic sources become square pixels at their displayed size', () => {
    const out = compile(
      ['webm'],
      probeOf(video({ width: 720, height: 576, displayWidth: 768, displayHeight: 576 }), audio()),
    );
    assert.equal(opt(out.commands[0]!.args, '-vf'), 'scale=768:576,setsar=1');
  });

  it('rotation: sizes come from the displayed size and nothing rotates a second time', () => {
    // A 1920x1080 phone recording shown at 90°: ffmpeg autorotates to 1080x1920.
    const portrait = video({ width: 1920, height: 1080, displayWidth: 1080, displayHeight: 1920, rotation: 90 });
    const out = compile(['webm', 'poster'], probeOf(portrait, audio()));
    for (const c of out.commands) {
      assert.equal(opt(c.args, '-vf'), undefined, c.label);
      assert.ok(!c.args.some((a) => /transpose|rotate|hflip|vflip/.test(a)), c.label);
      assert.ok(!c.args.includes('-noautorotate'));
    }
    assert.deepEqual([out.outputs[0]!.video!.width, out.outputs[0]!.video!.height], [1080, 1920]);
    // Scaled: the scale is in display orientation.
    const big = video({ width: 3840, height: 2160, displayWidth: 2160, displayHeight: 3840, rotation: 270 });
    assert.equal(opt(compile(['webm'], probeOf(big, audio())).commands[0]!.args, '-vf'), 'scale=1080:1920,setsar=1');
  });

  it("deinterlaces only what the probe says is interlaced, with the preset's filter", () => {
    const inter = compile(
      ['webm', 'poster'],
      probeOf(video({ width: 1920, height: 1080, interlaced: true, fieldOrder: 'tt' }), audio()),
    );
    for (const c of inter.commands)
      assert.equal(opt(c.args, '-vf'), 'bwdif=mode=send_frame:parity=auto:deint=all', c.label);
    const yadif = applyOverrides(getPreset('webm'), ['video.deinterlace=yadif']);
    assert.match(
      opt(
        compile([yadif], probeOf(video({ interlaced: true, width: 720, height: 576 }), audio())).commands[0]!.args,
        '-vf',
      )!,
      /^yadif=mode=send_frame/,
    );
    const prog = compile(['webm', 'ogg', 'poster'], probeOf(video({ interlaced: false }), audio()));
    for (const c of prog.commands) assert.ok(!c.args.some((a) => /bwdif|yadif/.test(a)), c.label);
  });

  it("libvpx tile columns follow the width as in Google's VOD settings", () => {
    assert.deepEqual([320, 640, 1280, 1920, 2560, 3840].map(tileColumns), [0, 1, 2, 2, 3, 3]);
  });
});

describe('rate control', () => {
  const vp9 = getPreset('webm').video!;

  it("a size on a rung gets that rung: Google's VP9 VOD numbers at 30 fps", () => {
    assert.deepEqual(ladderRate(vp9, 1280, 720, 30), { crf: 32, targetKbps: 1024, minKbps: 512, maxKbps: 1485 });
    assert.deepEqual(ladderRate(vp9, 1920, 1080, 29.97), { crf: 31, targetKbps: 1800, minKbps: 900, maxKbps: 2610 });
    assert.deepEqual(ladderRate(vp9, 640, 360, 25), { crf: 36, targetKbps: 276, minKbps: 138, maxKbps: 400 });
    assert.deepEqual(ladderRate(vp9, 320, 240, 24), { crf: 37, targetKbps: 150, minKbps: 75, maxKbps: 218 });
    assert.deepEqual(ladderRate(vp9, 3840, 2160, 30), { crf: 15, targetKbps: 12000, minKbps: 6000, maxKbps: 17400 });
  });

  it('50/60 fps get ×1.5, linearly in between', () => {
    assert.deepEqual(ladderRate(vp9, 1920, 1080, 60), { crf: 31, targetKbps: 2700, minKbps: 1350, maxKbps: 3915 });
    assert.equal(fpsFactor(30, vp9.fpsScale), 1);
    assert.equal(fpsFactor(45, vp9.fpsScale), 1.25);
    assert.equal(fpsFactor(50, vp9.fpsScale), 1 + (0.5 * 20) / 30);
    assert.equal(fpsFactor(120, vp9.fpsScale), 3);
    assert.equal(fpsFactor(15, vp9.fpsScale), 1);
  });

  it('sizes between rungs are interpolated by pixel count; beyond the ends, proportional', () => {
    // 960x540 = 518400 px, between 640x480 (307200) and 1280x720 (921600): t = 0.34375.
    assert.deepEqual(ladderRate(vp9, 960, 540, 30), {
      crf: 33,
      targetKbps: Math.round(750 + 274 * 0.34375),
      minKbps: Math.round(375 + 137 * 0.34375),
      maxKbps: Math.round(1088 + 397 * 0.34375),
    });
    assert.deepEqual(ladderRate(vp9, 160, 120, 30), { crf: 37, targetKbps: 38, minKbps: 19, maxKbps: 55 });
    assert.equal(ladderRate(vp9, 7680, 4320, 30)!.maxKbps, 17400 * 4);
    // Monotonic in size.
    let last = 0;
    for (const [w, h] of [
      [320, 240],
      [426, 240],
      [640, 360],
      [854, 480],
      [1280, 720],
      [1920, 1080],
      [2560, 1440],
      [3840, 2160],
    ] as const) {
      const r = ladderRate(vp9, w, h, 30)!;
      assert.ok(r.maxKbps > last, `${w}x${h}`);
      last = r.maxKbps;
    }
  });

  it('the VP9 command carries constrained quality: crf with target, min and max rates', () => {
    const args = compile(['webm'], probeOf(video({ width: 1280, height: 720 }), audio())).commands[0]!.args;
    for (const [flag, value] of [
      ['-c:v', 'libvpx-vp9'],
      ['-crf', '32'],
      ['-b:v', '1024k'],
      ['-minrate', '512k'],
      ['-maxrate', '1485k'],
      ['-quality', 'good'],
      ['-speed', '2'],
      ['-row-mt', '1'],
      ['-tile-columns', '2'],
      ['-auto-alt-ref', '1'],
      ['-lag-in-frames', '25'],
      ['-g', '120'],
      ['-pix_fmt', 'yuv420p'],
    ]) {
      assert.equal(opt(args, flag!), value, flag);
    }
    assert.ok(!args.includes('-r'), 'keeps the source frame rate');
  });

  it("the keyframe interval is the preset's seconds in frames of the source rate", () => {
    const g = (fps: number) => opt(compile(['webm'], probeOf(video({ fps }), audio())).commands[0]!.args, '-g');
    assert.equal(g(25), '100');
    assert.equal(g(30000 / 1001), '119');
    assert.equal(g(60), '240');
  });

  it('AV1 uses SVT-AV1 capped CRF when present, else libaom constrained quality', () => {
    const src = probeOf(video({ width: 1280, height: 720 }), audio());
    const svt = compile(['av1'], src).commands[0]!.args;
    assert.equal(opt(svt, '-c:v'), 'libsvtav1');
    assert.equal(opt(svt, '-crf'), '35');
    assert.equal(opt(svt, '-preset'), '8');
    assert.equal(opt(svt, '-svtav1-params'), `keyint=120:mbr=${Math.round(1485 * 0.7)}`);
    const aom = compile(['av1'], src, new Set(['libaom-av1', 'libopus'])).commands[0]!.args;
    assert.equal(opt(aom, '-c:v'), 'libaom-av1');
    assert.equal(opt(aom, '-crf'), '34');
    assert.equal(opt(aom, '-cpu-used'), '6');
    assert.equal(opt(aom, '-b:v'), `${Math.round(1485 * 0.7)}k`);
    assert.equal(opt(aom, '-row-mt'), '1');
  });

  it('Theora runs at the ladder target, never in uncapped quality mode unless asked', () => {
    const args = compile(['ogg'], probeOf(video({ width: 1280, height: 720 }), audio())).commands[0]!.args;
    assert.equal(opt(args, '-c:v'), 'libtheora');
    assert.equal(opt(args, '-b:v'), '2000k');
    assert.ok(!args.includes('-q:v'));
    const q = compile([applyOverrides(getPreset('ogg'), ['video.q=7'])], probeOf(video(), audio())).commands[0]!.args;
    assert.equal(opt(q, '-q:v'), '7');
  });

  it('a 10-bit source stays 10-bit only where the preset allows it', () => {
    const src = probeOf(video({ pixFmt: 'yuv420p10le', bitDepth: 10 }), audio());
    const out = compile(['webm', 'av1', 'webm-vp8'], src);
    const args = out.commands[0]!.args;
    const fmts = args.flatMap((a, i) => (a === '-pix_fmt' ? [args[i + 1]] : []));
    assert.deepEqual(fmts, ['yuv420p', 'yuv420p10le', 'yuv420p']);
    assert.equal(opt(compile(['av1'], probeOf(video(), audio())).commands[0]!.args, '-pix_fmt'), 'yuv420p');
  });

  it('colour metadata known to the probe is carried over; unknown values are not', () => {
    const src = probeOf(
      video({ colorPrimaries: 'bt2020', colorTransfer: 'smpte2084', colorSpace: 'bt2020nc', colorRange: 'tv' }),
      audio(),
    );
    const args = compile(['webm'], src).commands[0]!.args;
    assert.equal(opt(args, '-color_primaries'), 'bt2020');
    assert.equal(opt(args, '-color_trc'), 'smpte2084');
    assert.equal(opt(args, '-colorspace'), 'bt2020nc');
    assert.equal(opt(args, '-color_range'), 'tv');
    const unknown = compile(['webm'], probeOf(video({ colorPrimaries: 'unknown', colorSpace: '-vf x' }), audio()))
      .commands[0]!.args;
    assert.ok(!unknown.includes('-color_primaries'));
    assert.ok(!unknown.includes('-colorspace'));
    const jpeg = compile(['webm'], probeOf(video({ pixFmt: 'yuvj420p', colorRange: 'pc' }), audio())).commands[0]!.args;
    assert.equal(opt(jpeg, '-color_range'), 'tv');
  });

  it('VFR keeps its timestamps in WebM; Theora, which has one frame rate, gets the average', () => {
    const vfr = probeOf(video({ fps: 19, rFrameRate: '25/1', avgFrameRate: '19/1', vfr: true }), audio());
    const webm = compile(['webm'], vfr).commands[0]!.args;
    assert.equal(opt(webm, '-fps_mode'), 'passthrough');
    assert.equal(opt(webm, '-force_key_frames'), 'expr:gte(t,n_forced*4)');
    assert.ok(!webm.includes('-r'));
    const ogg = compile(['ogg'], vfr).commands[0]!.args;
    assert.equal(opt(ogg, '-fps_mode'), 'cfr');
    assert.equal(opt(ogg, '-r'), '19/1');
    const cfr = compile(['webm', 'ogg'], probeOf(video(), audio())).commands[0]!.args;
    assert.ok(!cfr.includes('-fps_mode') && !cfr.includes('-r'));
  });
});

describe('audio', () => {
  const opus = getPreset('opus').audio!;
  it('bitrate by channel count from the preset table, interpolated in between', () => {
    assert.deepEqual(
      [1, 2, 4, 6, 8].map((n) => audioKbps(opus, n)),
      [64, 128, 192, 256, 320],
    );
    assert.equal(audioKbps(getPreset('ogg').audio!, 2), 160);
    assert.equal(audioKbps({ ...opus, bitrate: '96k' }, 6), 96);
    assert.equal(audioKbps({ ...opus, channelBitrates: undefined }, 3), 192);
  });

  it('mono, stereo and 5.1(side) get the layouts and options libopus accepts', () => {
    const run = (a: AudioStreamInfo) => compile(['opus'], probeOf(undefined, a)).commands[0]!.args;
    const mono = run(audio({ channels: 1, channelLayout: 'mono' }));
    assert.equal(opt(mono, '-af'), 'aformat=sample_rates=48000:channel_layouts=mono');
    assert.equal(opt(mono, '-b:a'), '64k');
    assert.ok(!mono.includes('-mapping_family'));
    const stereo = run(audio());
    assert.equal(opt(stereo, '-af'), 'aformat=sample_rates=48000:channel_layouts=stereo');
    assert.equal(opt(stereo, '-b:a'), '128k');
    const surround = run(audio({ channels: 6, channelLayout: '5.1(side)', sampleRate: 44100 }));
    assert.equal(opt(surround, '-af'), 'aformat=sample_rates=48000:channel_layouts=5.1');
    assert.equal(opt(surround, '-b:a'), '256k');
    assert.equal(opt(surround, '-mapping_family'), '1');
    assert.equal(opt(surround, '-f'), 'opus');
    const many = compile(['opus'], probeOf(undefined, audio({ channels: 12 }))).outputs[0]!.audio!;
    assert.deepEqual([many.channels, many.layout], [8, '7.1']);
  });

  it('Vorbis keeps the source sample rate and has no Opus-only options', () => {
    const args = compile(['ogg'], probeOf(video(), audio({ channels: 6, sampleRate: 44100 }))).commands[0]!.args;
    assert.equal(opt(args, '-c:a'), 'libvorbis');
    assert.equal(opt(args, '-af'), 'aformat=channel_layouts=5.1');
    assert.equal(opt(args, '-b:a'), '320k');
    assert.ok(!args.includes('-mapping_family') && !args.includes('-vbr'));
  });
});

describe('encoders', () => {
  it('chooses the first available encoder of a codec', () => {
    assert.equal(chooseEncoder('av1', ALL_ENCODERS), 'libsvtav1');
    assert.equal(chooseEncoder('av1', new Set(['libaom-av1'])), 'libaom-av1');
    assert.equal(chooseEncoder('av1', new Set(['libdav1d'])), undefined);
    assert.equal(chooseEncoder('opus', new Set(['opus'])), undefined, 'the experimental native encoder is not used');
    assert.deepEqual(requiredEncoders(getPreset('av1')), [
      { stream: 'video', codec: 'av1', anyOf: ['libsvtav1', 'libaom-av1'] },
      { stream: 'audio', codec: 'opus', anyOf: ['libopus'] },
    ]);
    assert.deepEqual(
      requiredEncoders(getPreset('poster')).map((r) => r.anyOf),
      [['libwebp']],
    );
  });

  it('a missing encoder is ENCODER_MISSING saying what to install', () => {
    const e = error(() => compile(['av1'], probeOf(video(), audio()), new Set(['libvpx-vp9', 'libopus'])));
    assert.equal(e.code, 'ENCODER_MISSING');
    assert.equal(e.message, 'preset "av1" needs an AV1 encoder (libsvtav1 or libaom-av1) and this ffmpeg has none');
    assert.equal(e.hint, 'install an ffmpeg built with libsvtav1, or set NOMMER_FFMPEG to one');
    const opus = error(() => compile(['webm'], probeOf(video(), audio()), new Set(['libvpx-vp9'])));
    assert.equal(opus.message, 'preset "webm" needs an Opus encoder (libopus) and this ffmpeg has none');
    // Not needed when the input has no audio to encode.
    assert.doesNotThrow(() => compile(['webm'], probeOf(video(), undefined), new Set(['libvpx-vp9'])));
  });
});

describe('streams', () => {
  it("maps the probe's stream indexes explicitly, so cover art and data streams are not picked", () => {
    const args = compile(['webm'], probeOf(video({ index: 2 }), audio({ index: 5 }))).commands[0]!.args;
    const maps = args.flatMap((a, i) => (a === '-map' ? [args[i + 1]] : []));
    assert.deepEqual(maps, ['0:2', '0:5']);
  });

  it('a video preset on an audio-only input is INPUT_NO_STREAMS pointing to opus', () => {
    const e = error(() => compile(['webm'], probeOf(undefined, audio())));
    assert.equal(e.code, 'INPUT_NO_STREAMS');
    assert.match(e.hint!, /opus/);
    assert.equal(
      code(() => compile(['poster'], probeOf(undefined, audio()))),
      'INPUT_NO_STREAMS',
    );
    // Cover art is not video.
    assert.equal(
      code(() => compile(['webm'], probeOf(video({ attachedPic: true }), audio()))),
      'INPUT_NO_STREAMS',
    );
    // Unless the preset says video is optional.
    const opt2 = applyOverrides(getPreset('webm'), ['video.optional=true']);
    const out = compile([opt2], probeOf(undefined, audio()));
    assert.equal(out.outputs[0]!.video, undefined);
    assert.equal(out.outputs[0]!.audio!.encoder, 'libopus');
  });

  it('an audio preset on an input without audio is INPUT_NO_STREAMS; a video preset just has no audio', () => {
    assert.equal(
      code(() => compile(['opus'], probeOf(video(), undefined))),
      'INPUT_NO_STREAMS',
    );
    const out = compile(['webm'], probeOf(video(), undefined));
    const args = out.commands[0]!.args;
    assert.ok(!args.includes('-c:a'));
    assert.deepEqual(args.filter((a) => a === '-map').length, 1);
    assert.equal(out.outputs[0]!.audio, undefined);
  });
});

describe('commands', () => {
  const src = probeOf(video({ width: 1280, height: 720 }), audio(), 20);

  it('all one-pass outputs share one command: the input is decoded once', () => {
    const out = compile(['webm', 'opus', 'webm-vp8', 'ogg', 'av1'], src);
    assert.equal(out.commands.length, 1);
    const args = out.commands[0]!.args;
    assert.equal(args.filter((a) => a === '-i').length, 1);
    assert.deepEqual(args.slice(0, 2), ['-i', 'file:/in/clip.mp4']);
    for (let i = 0; i < 5; i++) assert.ok(args.includes(`/out/o${i}`));
    // Every output names its muxer, just before its path.
    const muxers = args.flatMap((a, i) => (a === '-f' ? [`${args[i + 1]} ${args[i + 2]}`] : []));
    assert.deepEqual(muxers, ['webm /out/o0', 'opus /out/o1', 'webm /out/o2', 'ogg /out/o3', 'webm /out/o4']);
    assert.ok(!args.includes('-y') && !args.includes('-progress'));
    assert.equal(out.commands[0]!.weight, 4.1);
    assert.deepEqual(
      out.outputs.map((o) => [o.preset, o.container, o.video?.encoder, o.audio?.encoder]),
      [
        ['webm', 'webm', 'libvpx-vp9', 'libopus'],
        ['opus', 'opus', undefined, 'libopus'],
        ['webm-vp8', 'webm', 'libvpx', 'libvorbis'],
        ['ogg', 'ogg', 'libtheora', 'libvorbis'],
        ['av1', 'webm', 'libsvtav1', 'libopus'],
      ],
    );
  });

  it('a two-pass output gets a pass-1 command (no audio, null muxer) and a pass-2 command sharing its log', () => {
    const out = compile(['webm', 'webm-2pass'], src);
    assert.deepEqual(
      out.commands.map((c) => [c.label, c.weight]),
      [
        ['webm', 1],
        ['webm-2pass pass 1/2', 0.4],
        ['webm-2pass pass 2/2', 1],
      ],
    );
    const [, p1, p2] = out.commands.map((c) => c.args);
    assert.equal(opt(p1!, '-pass'), '1');
    assert.equal(opt(p1!, '-passlogfile'), '/tmp/passlog/1');
    assert.equal(opt(p1!, '-speed'), '4');
    assert.ok(p1!.includes('-an'));
    assert.ok(!p1!.includes('-c:a'));
    assert.deepEqual(p1!.slice(-3), ['-f', 'null', '/dev/null']);
    assert.equal(opt(p2!, '-pass'), '2');
    assert.equal(opt(p2!, '-passlogfile'), '/tmp/passlog/1');
    assert.equal(opt(p2!, '-speed'), '2');
    assert.equal(opt(p2!, '-c:a'), 'libopus');
    assert.deepEqual(p2!.slice(-3), ['-f', 'webm', '/out/o1']);
    // Same rate control in both passes.
    for (const f of ['-crf', '-b:v', '-minrate', '-maxrate', '-g']) assert.equal(opt(p1!, f), opt(p2!, f), f);
  });

  it('a poster seeks to 10% before decoding and writes one WebP frame, scaled like the video', () => {
    const out = compile(['poster'], probeOf(video({ width: 3840, height: 2160 }), audio(), 60));
    const args = out.commands[0]!.args;
    assert.deepEqual(args.slice(0, 4), ['-ss', '6.000', '-i', 'file:/in/clip.mp4']);
    assert.equal(opt(args, '-c:v'), 'libwebp');
    assert.equal(opt(args, '-frames:v'), '1');
    assert.equal(opt(args, '-quality'), '80');
    assert.equal(opt(args, '-vf'), 'scale=1920:1080,setsar=1');
    assert.ok(!args.includes('-c:a'));
    assert.deepEqual(args.slice(-3), ['-f', 'webp', '/out/o0']);
  });

  it("input options go just before -i in every command, after a still's own seek", () => {
    const out = compileJob({
      input: 'file:/in.mp4',
      inputOptions: ['-copyts', '-itsoffset', '0.5'],
      probe: src,
      outputs: ['poster', 'webm', 'webm-2pass'].map((n, i) => ({ preset: getPreset(n), path: `/o${i}` })),
      encoders: ALL_ENCODERS,
      passlogDir: '/p',
    });
    const heads = out.commands.map((c) => c.args.slice(0, c.args.indexOf('-i') + 2));
    assert.deepEqual(heads, [
      ['-ss', '2.000', '-copyts', '-itsoffset', '0.5', '-i', 'file:/in.mp4'],
      ...Array(3).fill(['-copyts', '-itsoffset', '0.5', '-i', 'file:/in.mp4']),
    ]);
  });

  it("a video filter prefix runs ahead of each video output's own filters, in both passes, and never touches audio", () => {
    const big = probeOf(video({ width: 3840, height: 2160 }), audio(), 20);
    const out = compileJob({
      input: 'file:/in.mp4',
      videoFilterPrefix: ['trim=start=1', 'setpts=PTS-STARTPTS'],
      probe: big,
      outputs: ['webm-2pass', 'opus'].map((n, i) => ({ preset: getPreset(n), path: `/o${i}` })),
      encoders: ALL_ENCODERS,
      passlogDir: '/p',
    });
    const vf = out.commands.map((c) => c.args.flatMap((a, i) => (a === '-vf' ? [c.args[i + 1]] : [])));
    // opus (one pass) first, then webm-2pass pass 1 and pass 2.
    assert.deepEqual(vf, [
      [],
      ['trim=start=1,setpts=PTS-STARTPTS,scale=1920:1080,setsar=1'],
      ['trim=start=1,setpts=PTS-STARTPTS,scale=1920:1080,setsar=1'],
    ]);
    assert.equal(opt(out.commands[0]!.args, '-af'), 'aformat=sample_rates=48000:channel_layouts=stereo');
    assert.equal(out.outputs[0]!.video!.filters, 'trim=start=1,setpts=PTS-STARTPTS,scale=1920:1080,setsar=1');
    // A source at the output size has no filters of its own: the prefix alone becomes its -vf, after -c:v.
    const atSize = compileJob({
      input: 'file:/in.mp4',
      videoFilterPrefix: ['trim=start=1'],
      probe: src,
      outputs: [{ preset: getPreset('av1'), path: '/o' }],
      encoders: ALL_ENCODERS,
      passlogDir: '/p',
    }).commands[0]!.args;
    assert.deepEqual(atSize.slice(4, 8), ['-c:v', 'libsvtav1', '-vf', 'trim=start=1']);
  });

  it('relative output paths cannot be read as options or protocols', () => {
    const out = compileJob({
      input: 'file:/in.mp4',
      probe: src,
      outputs: [{ preset: getPreset('webm'), path: '-y.webm' }],
      encoders: ALL_ENCODERS,
      passlogDir: '/p',
    });
    assert.equal(out.commands[0]!.args.at(-1), 'file:-y.webm');
  });

  it('threads, when given, go to each video encoder', () => {
    const out = compileJob({
      input: 'file:/in.mp4',
      probe: src,
      outputs: [{ preset: getPreset('webm'), path: '/o.webm' }],
      encoders: ALL_ENCODERS,
      passlogDir: '/p',
      threads: 2,
    });
    assert.equal(opt(out.commands[0]!.args, '-threads'), '2');
  });

  it('a preset that arrives broken is refused where it enters, never compiled: a task message by its schema, a record by PRESET_INVALID', () => {
    const broken = { ...getPreset('webm'), video: { ...getPreset('webm').video!, crf: '30 -f lavfi' } };
    const message = {
      v: MESSAGE_VERSION,
      kind: 'task',
      jobId: 'j',
      taskId: 'j.encode',
      attempt: 1,
      type: 'encode',
      input: '/in.mp4',
      outputs: [{ preset: broken, uri: '/out.webm' }],
    };
    // What a worker leases: malformed (dead-lettered), so no runner ever sees the preset.
    const r = receivedTask().safeParse(message);
    assert.equal(r.success, false);
    assert.ok(
      r.error?.issues.some((i) => i.path.join('.') === 'outputs.0.preset.video.crf'),
      JSON.stringify(r.error?.issues),
    );
    // The same message with the preset intact is received.
    assert.equal(
      receivedTask().safeParse({ ...message, outputs: [{ preset: getPreset('webm'), uri: '/out.webm' }] }).success,
      true,
    );
    // What a worker that cannot read the preset tells (worker.ts: PRESET_INVALID, not retried).
    assert.equal(
      code(() => parseResolvedPreset(broken)),
      'PRESET_INVALID',
    );
  });
});
