import { defineConfig } from 'vitest/config';

// `npm run test:reliability`: the reliability and security scenarios (test/reliability/), against the
// real PostgreSQL and Redis, with processes, servers and outages of their own. They load the machine
// (2 cores), so files run one after another, with timeouts sized for crashes and outages.
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.reliability.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
