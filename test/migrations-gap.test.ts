// Migration numbers with a gap (0012-watches.sql shipped while 0011 is another change's): the
// migrator applies what it has, applies the gap's migration when it arrives, and refuses a
// database holding a migration it does not know, by number or by name. On real SQLite files.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { migrate, loadMigrations, openDatabase, type Migration } from '../src/adapters/local/db.js';
import { NommerError } from '../src/errors.js';
import { tempDir } from './helpers/media.js';

const dir = tempDir('nommer-migrations-');
after(() => dir.cleanup());
let n = 0;
const fresh = () => openDatabase(join(dir.path, `gap-${++n}.db`));

const m = (id: number, name: string, sql: string): Migration => ({
  id,
  name: `${String(id).padStart(4, '0')}-${name}.sql`,
  sql,
});
const one = m(9001, 'one', 'CREATE TABLE gap_one (x INTEGER)');
const two = m(9002, 'two', 'CREATE TABLE gap_two (x INTEGER)');
const four = m(9004, 'four', 'CREATE TABLE gap_four (x INTEGER)');
const three = m(9003, 'three', 'CREATE TABLE gap_three (x INTEGER)');

const tables = (db: ReturnType<typeof fresh>) =>
  db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'gap_%' ORDER BY name").pluck().all();

function refused(fn: () => unknown, name: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof NommerError && e.code === 'CONFIG_INVALID' && name.test(e.message));
}

test('the shipped migrations open a fresh database, watches included, whatever numbers are missing', () => {
  const db = fresh();
  const shipped = loadMigrations();
  assert.ok(shipped.some((x) => x.name === '0012-watches.sql'));
  assert.deepEqual(
    db.prepare('SELECT name FROM nommer_migrations ORDER BY id').pluck().all(),
    shipped.map((x) => x.name),
  );
  assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'watches'").pluck().get(), 1);
  db.close();
});

test('a gap is accepted, and the migration that fills it later is applied then, once', () => {
  const db = fresh();
  const base = loadMigrations();
  assert.deepEqual(migrate(db, [...base, one, two, four]).applied, [one.name, two.name, four.name]);
  assert.deepEqual(tables(db), ['gap_four', 'gap_one', 'gap_two']);
  assert.deepEqual(migrate(db, [...base, one, two, three, four]).applied, [three.name]);
  assert.deepEqual(tables(db), ['gap_four', 'gap_one', 'gap_three', 'gap_two']);
  assert.deepEqual(migrate(db, [...base, one, two, three, four]).applied, []);
  db.close();
});

test('a database with a migration this nommer lacks is refused, below its newest number too, or under another name', () => {
  const db = fresh();
  const base = loadMigrations();
  migrate(db, [...base, one, two, three, four]);
  // A nommer without 9003 (another branch's change) must not run on a schema that has it.
  refused(() => migrate(db, [...base, one, two, four]), /9003-three\.sql/);
  // The same number for a different change.
  refused(() => migrate(db, [...base, one, two, m(9003, 'other', 'SELECT 1'), four]), /9003-three\.sql/);
  // Newer than everything it knows.
  refused(() => migrate(db, [...base, one, two, three]), /9004-four\.sql/);
  db.close();
});
