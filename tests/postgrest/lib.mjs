// Helpers for the /rest/v1 tests: start the real rowcast binary on a free port with a fresh database in a
// temporary folder, seed it with the real sqlite3 shell, and stop it. Every wait is bounded.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const BIN = process.env.ROWCAST_BIN || path.join(REPO, 'build', 'rowcast');
export const SQLITE3 = '/usr/bin/sqlite3';
/** The bound on waiting for the server to start (ms): only a server that never starts fails. */
export const WAIT = 30000;

export const SCHEMA = `
CREATE TABLE items (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  qty INTEGER,
  done BOOLEAN NOT NULL DEFAULT 0,
  tag TEXT UNIQUE,
  note TEXT DEFAULT 'none'
);`;

/** The rows every test starts from (ids 1..6). */
export const SEED = `
DELETE FROM items;
INSERT INTO items (id, name, qty, done, tag) VALUES
  (1, 'Apple', 3, 0, 'a'),
  (2, 'banana', NULL, 1, 'b'),
  (3, 'Cherry', 7, 0, NULL),
  (4, 'apple pie', 1, 1, 'd'),
  (5, 'Date', NULL, 0, 'e'),
  (6, 'elderberry', 12, 0, 'f');`;

/** Runs SQL with the sqlite3 shell on db (another program writing the same file, as a user would). */
export function sql(db, text) {
  execFileSync(SQLITE3, ['-cmd', '.timeout 10000', db], { input: text });
}

/**
 * Starts rowcast on a free loopback port with a new database holding SCHEMA and SEED.
 * Returns {url, db, stop()}; extra are more command-line options.
 */
export async function start(extra = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rowcast-pgrst-'));
  const db = path.join(dir, 'test.db');
  sql(db, SCHEMA + SEED);
  const child = spawn(BIN, [db, '--listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`rowcast did not start within ${WAIT} ms: ${err}`)), WAIT);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`rowcast exited with ${code}: ${err}`));
    });
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    // a sanitizer build reports what it found on stderr (leaks at exit): a report fails the suite
    if (/Sanitizer|runtime error:/.test(err)) throw new Error(`sanitizer report from rowcast:\n${err}`);
  };
  return { url, db, stop, reseed: () => sql(db, SEED) };
}
