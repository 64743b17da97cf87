// Once per test run: a migrated template database every test file clones its own database from.
// Its name carries a hash of the migrations, so concurrent runs share it and a new migration makes
// a new one; an advisory lock keeps two runs from building it at once.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { connect, migrationsFolder, runMigrations } from '../../src/db/client.js';
import { ADMIN_DATABASE_URL, databaseUrl } from './env.js';

function templateName(): string {
  const folder = migrationsFolder();
  const hash = createHash('sha256');
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.sql')).sort()) {
    hash.update(file).update(readFileSync(path.join(folder, file)));
  }
  return `pl_tpl_${hash.digest('hex').slice(0, 16)}`;
}

export default async function setup() {
  const name = templateName();
  process.env.PL_TEST_TEMPLATE = name;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query('select pg_advisory_lock(72617)');
    const found = await admin.query(
      `select shobj_description(oid, 'pg_database') as note from pg_database where datname = $1`,
      [name],
    );
    if (found.rows[0]?.note === 'ready') return;
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${name}`);
    const database = connect(databaseUrl(name), { max: 1 });
    try {
      await runMigrations(database);
    } finally {
      await database.close();
    }
    await admin.query(`comment on database ${name} is 'ready'`);
  } finally {
    await admin.query('select pg_advisory_unlock(72617)').catch(() => {});
    await admin.end();
  }
}
