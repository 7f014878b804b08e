// Job ids: the format ('j_' + 10 time + 16 random characters, Crockford base32) and their order:
// strictly increasing within a process, even for ids made in one millisecond or when the clock
// goes back, so "oldest first" by id is creation order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobIdFactory, newJobId, taskId } from '../src/orchestrator/store/ids.js';

const FORMAT = /^j_[0-9a-hjkmnp-tv-z]{26}$/;
const T = Date.UTC(2030, 0, 1);

function assertIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++)
    assert.ok(ids[i - 1]! < ids[i]!, `id ${i} (${ids[i]}) sorts after id ${i - 1} (${ids[i - 1]})`);
}

test('ids keep their format: j_ + 10 characters of time + 16 random, Crockford base32', () => {
  const id = newJobId();
  assert.match(id, FORMAT);
  assert.equal(id.length, 28);
  assert.equal(jobIdFactory()(0).slice(0, 12), 'j_0000000000');
  assert.equal(taskId(id, 'encode'), `${id}.encode`);
});

test('10,000 ids made in a tight loop are strictly increasing (many share a millisecond)', () => {
  const ids = Array.from({ length: 10_000 }, () => newJobId());
  for (const id of ids) assert.match(id, FORMAT);
  assertIncreasing(ids);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(
    new Set(ids.map((id) => id.slice(2, 12))).size < ids.length,
    'some ids shared a millisecond (the case under test)',
  );
});

test('the same `now` again: the next id adds one to the random part and keeps the time', () => {
  const next = jobIdFactory();
  const ids = Array.from({ length: 1000 }, () => next(T));
  for (const id of ids) assert.match(id, FORMAT);
  assertIncreasing(ids);
  assert.equal(new Set(ids.map((id) => id.slice(2, 12))).size, 1, 'one time prefix');
  // By exactly one: the last character moves one step (with carry when it wraps).
  const [a, b] = [ids[0]!, ids[1]!];
  assert.equal(a.slice(0, 12), b.slice(0, 12));
  const A = '0123456789abcdefghjkmnpqrstvwxyz';
  const value = (s: string) => [...s.slice(12)].reduce((n, c) => n * 32n + BigInt(A.indexOf(c)), 0n);
  for (let i = 1; i < ids.length; i++)
    assert.equal(value(ids[i]!) - value(ids[i - 1]!), 1n, `id ${i} is id ${i - 1} plus one`);
});

test("a clock that goes back by 1 ms still gives a larger id (the last id's time, plus one)", () => {
  const next = jobIdFactory();
  const a = next(T);
  const b = next(T - 1);
  const c = next(T - 1);
  assertIncreasing([a, b, c]);
  assert.equal(b.slice(0, 12), a.slice(0, 12), 'keeps the later time');
  // A later millisecond starts again from fresh random characters.
  const d = next(T + 1);
  assert.ok(d > c);
  assert.notEqual(d.slice(0, 12), a.slice(0, 12));
});

test('the first id of each millisecond is random (not guessable from the one before)', () => {
  const next = jobIdFactory();
  const firsts = Array.from({ length: 50 }, (_, i) => next(T + i).slice(12));
  assert.equal(new Set(firsts).size, firsts.length);
  const twoFactories = [jobIdFactory()(T), jobIdFactory()(T)];
  assert.notEqual(twoFactories[0], twoFactories[1]);
});
