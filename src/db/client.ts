// The PostgreSQL edge: pool, drizzle handle and migrations (creating the database: ensure-database.ts).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle, type NodePgDatabase, type NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import pg from 'pg';
import * as schema from './schema.js';

export type Db = NodePgDatabase<typeof schema> & { $client: pg.Pool };
/**
 * What statements run through: the pool's handle (Db) or a transaction's. Code that a caller may run
 * inside its own transaction (the replay's dry run, rolled back) takes this: it has no `$client`, so
 * nothing in it can send a statement to the pool, around the caller's transaction.
 */
export type Queryable = PgDatabase<NodePgQueryResultHKT, typeof schema>;
export type Database = { pool: pg.Pool; db: Db; close(): Promise<void> };

// Postgres bigint (int8) and numeric arrive as strings by default: keep them exact.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

/** DATABASE_STATEMENT_TIMEOUT_MS's default, for a pool whose caller names none (commands, tests). */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

export type ConnectOptions = {
  max?: number;
  /**
   * `statement_timeout` of every connection, in ms (0: none; the service hands over
   * DATABASE_STATEMENT_TIMEOUT_MS). A statement that sleeps or waits on a lock past it fails (SQLSTATE
   * 57014) instead of holding its connection, its transaction's locks and whatever waits on them for
   * good: a worker's batch with a poisoned job, a request behind a locked table. Migrations lift it.
   */
  statementTimeoutMs?: number;
};

export function connect(url: string, options: ConnectOptions = {}): Database {
  const statementTimeout = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    // sent with the connection's start-up parameters: no extra round trip, and it holds for every
    // statement the connection runs, inside transactions too
    ...(statementTimeout > 0 ? { statement_timeout: statementTimeout } : {}),
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  // So must one in use whose connection drops between two queries (PostgreSQL restarted in the middle
  // of a transaction): its 'error' has no other listener. The next query on it fails instead, and the
  // pool discards it when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = drizzle(pool, { schema });
  return { pool, db, close: () => pool.end() };
}

/** The committed migrations: `drizzle/` at the package root, from src/ or from dist/src/. */
export function migrationsFolder(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'drizzle');
    if (existsSync(path.join(candidate, 'meta', '_journal.json'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('drizzle/ migrations folder not found');
}

/** Apply pending migrations; concurrent starters are serialized by an advisory lock. */
export async function runMigrations(database: Database): Promise<void> {
  const client = await database.pool.connect();
  try {
    // a migration may rewrite a large table, and a starter waits here while another one migrates
    await client.query('set statement_timeout = 0');
    await client.query('select pg_advisory_lock(72616)');
    await migrate(drizzle(client, { schema }), { migrationsFolder: migrationsFolder() });
  } finally {
    await client.query('select pg_advisory_unlock(72616)').catch(() => {});
    // back to the connection's own timeout before the pool hands it out again
    await client.query('reset statement_timeout').catch(() => {});
    client.release();
  }
}
