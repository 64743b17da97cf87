import { defineConfig } from 'vitest/config';

// `npm run test:reliability`: the reliability and security scenarios (test/reliability/), against the
// real PostgreSQL and Redis, with processes, servers and outages of their own. They load the machine
// (2 cores), so files run one after another, with timeouts sized for crashes and outages. The duplicate
// storm and the worker crash run a second time with the queues in PostgreSQL (QUEUE_BACKEND=postgres).
export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    projects: [
      { extends: true, test: { name: 'redis', include: ['test/reliability/**/*.reliability.ts'], sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: {
          name: 'queue-postgres',
          include: ['test/reliability/duplicate-storm.reliability.ts', 'test/reliability/worker-crash.reliability.ts'],
          env: { TEST_QUEUE_BACKEND: 'postgres' },
          // after the Redis project, never beside it
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
