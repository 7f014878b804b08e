import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../src/config.js';
import { allowedS3Prefixes } from '../src/aws-settings.js';
import { NommerError } from '../src/errors.js';
import { tempDir } from './helpers/media.js';

test('defaults: local backend, loopback API, webm preset', () => {
  const c = parseConfig({});
  assert.equal(c.backend, 'local');
  assert.equal(c.api.host, '127.0.0.1');
  assert.equal(c.defaultPreset, 'webm');
  assert.equal(c.aws.ec2.maxInstances, 0);
});

test('every problem is reported with its path and the value found', () => {
  try {
    parseConfig({ aws: { ec2: { maxInstances: 'ten' } }, backend: 'gcp', api: { port: 70000 } });
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof NommerError);
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.match(err.message, /aws\.ec2\.maxInstances must be a whole number ≥ 0, got "ten"/);
    assert.match(err.message, /backend must be "local" or "aws", got "gcp"/);
    assert.match(err.message, /api\.port must be a port number 0–65535, got 70000/);
  }
});

test('unknown keys (typos) are named with their full path', () => {
  assert.throws(() => parseConfig({ aws: { regoin: 'us-east-1' } }), /unknown key "aws\.regoin"/);
});

test('config is found from a subdirectory up, and env overrides it', async () => {
  const d = tempDir();
  try {
    writeFileSync(join(d.path, 'nommer.config.json'), JSON.stringify({ defaultPreset: 'av1', local: { workers: 3 } }));
    const sub = join(d.path, 'a', 'b');
    mkdirSync(sub, { recursive: true });
    const prev = process.cwd();
    const loaded = await loadConfig({ cwd: sub, env: { NOMMER_HOME: join(d.path, 'home'), NOMMER_WORKERS: '2' } });
    assert.equal(process.cwd(), prev);
    assert.equal(loaded.filepath, join(d.path, 'nommer.config.json'));
    assert.equal(loaded.config.defaultPreset, 'av1');
    assert.equal(loaded.config.local.workers, 2);
    assert.equal(loaded.home, join(d.path, 'home'));
  } finally {
    d.cleanup();
  }
});

test('yaml config and package.json "nommer" key are read', async () => {
  const d = tempDir();
  try {
    writeFileSync(join(d.path, '.nommerrc.yaml'), 'defaultPreset: ogg\napi:\n  port: 9000\n');
    let loaded = await loadConfig({ cwd: d.path, env: {} });
    assert.equal(loaded.config.defaultPreset, 'ogg');
    assert.equal(loaded.config.api.port, 9000);
    const d2 = tempDir();
    writeFileSync(join(d2.path, 'package.json'), JSON.stringify({ name: 'x', nommer: { defaultPreset: 'opus' } }));
    loaded = await loadConfig({ cwd: d2.path, env: {} });
    assert.equal(loaded.config.defaultPreset, 'opus');
    d2.cleanup();
  } finally {
    d.cleanup();
  }
});

test('a broken config file is a CONFIG_INVALID error, not a stack trace', async () => {
  const d = tempDir();
  try {
    writeFileSync(join(d.path, 'nommer.config.json'), '{ "backend": ');
    await assert.rejects(
      loadConfig({ cwd: d.path, env: {} }),
      (e: unknown) => e instanceof NommerError && e.code === 'CONFIG_INVALID' && /cannot read config/.test(e.message),
    );
    await assert.rejects(
      loadConfig({ cwd: d.path, env: { NOMMER_WORKERS: 'many' } }),
      /NOMMER_WORKERS must be an integer, got "many"|cannot read config/,
    );
  } finally {
    d.cleanup();
  }
});

test('aws.allowedPrefixes: a bare bucket means that bucket, not every bucket whose name starts so; empty means aws.bucket', () => {
  const of = (aws: Record<string, unknown>) =>
    allowedS3Prefixes(parseConfig({ backend: 'aws', aws: { bucket: 'media', ...aws } }));
  assert.deepEqual(of({}), ['s3://media/']);
  assert.deepEqual(of({ allowedPrefixes: ['s3://media', 's3://archive/in/', 's3://logs/2026-'] }), [
    's3://media/',
    's3://archive/in/',
    's3://logs/2026-',
  ]);
  assert.throws(() => of({ allowedPrefixes: ['media/videos'] }), /allowedPrefixes.*S3 location/s);
});
