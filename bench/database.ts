// The run's own database: created empty (the service's first start migrates it), read and settled by
// the measures, dropped at the end.
import pg from 'pg';
import { ADMIN, dbName, dbUrl, KEEP_DATABASE } from './options.js';
import { log } from './print.js';

/** The bench's own connection to the run's database, connected once the service has migrated it. */
export const sql = new pg.Client({ connectionString: dbUrl });

export async function createDatabase() {
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  await admin.end();
  // the service creates the schema and the default program on its first start
}

export async function dropDatabase() {
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  if (KEEP_DATABASE) log(`(database ${dbName} kept)`);
  else await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.end();
}

export async function programIds() {
  const { rows } = await sql.query(`select id, slug from programs`);
  return rows as { id: string; slug: string }[];
}

/**
 * What autovacuum does on a deployed database between bursts (it is off on some CI machines, this one
 * included): tables vacuumed and their statistics current before a measure starts; then a checkpoint.
 */
export async function settle() {
  await sql.query('vacuum analyze');
  // and the pages written so far flushed now, not by a checkpoint in the middle of the measure (as pgbench does)
  await sql.query('checkpoint');
}
