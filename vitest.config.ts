import { defineConfig } from 'vitest/config';

/**
 * The tests that run a second time with the queues on BullMQ's PostgreSQL backend (QUEUE_BACKEND=postgres,
 * TEST_QUEUE_BACKEND in test/support/service.ts): every gateway's end-to-end contract and a representative
 * set of API tests (transactions, bulk runs and their callbacks, resources, keys, outbound webhooks), and replay.
 */
export const QUEUE_POSTGRES_TESTS = [
  'test/gateways/*-e2e.test.ts',
  'test/http/api-transactions.test.ts',
  'test/http/api-bulk.test.ts',
  'test/http/api-resources.test.ts',
  'test/http/api-keys.test.ts',
  'test/http/outbound-webhooks.test.ts',
  // the replay command queues on the service's backend
  'test/ops/replay.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // files run in parallel: each has its own database and queue prefix
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'redis', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'queue-postgres', include: QUEUE_POSTGRES_TESTS, env: { TEST_QUEUE_BACKEND: 'postgres' } } },
    ],
  },
});
