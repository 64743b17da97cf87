// Each test file gets its own database, cloned from the migrated template, dropped afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connect, type Database } from '../../src/db/client.js';
import { ADMIN_DATABASE_URL, databaseUrl } from './env.js';

export type TestDatabase = Database & { url: string; name: string; drop(): Promise<void> };

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const template = process.env.PL_TEST_TEMPLATE;
  if (!template) throw new Error('PL_TEST_TEMPLATE is unset: run the tests through vitest (global setup)');
  const name = `pl_test_${randomBytes(6).toString('hex')}`;
  // cloning needs the template to be idle; parallel files may collide for a moment: retry
  for (let attempt = 0; ; attempt++) {
    try {
      await admin((c) => c.query(`create database ${name} template ${template}`));
      break;
    } catch (err) {
      if (attempt >= 20 || (err as { code?: string }).code !== '55006') throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
  const url = databaseUrl(name);
  const database = connect(url, { max: 5 });
  return {
    ...database,
    url,
    name,
    async drop() {
      await database.close().catch(() => {});
      await admin((c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}
