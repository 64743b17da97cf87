// Where the tests find the machine's Postgres and Redis (the service's defaults unless overridden).
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function databaseUrl(name: string): string {
  const u = new URL(ADMIN_DATABASE_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * The queue backend the whole-service tests (test/support/service.ts) and the reliability harness start
 * the service on: `postgres` in the queue-postgres vitest project, `redis` otherwise.
 */
export const TEST_QUEUE_BACKEND: 'redis' | 'postgres' = process.env.TEST_QUEUE_BACKEND === 'postgres' ? 'postgres' : 'redis';
