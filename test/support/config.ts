import { loadConfig, type Config } from '../../src/config.js';
import { TEST_REDIS_URL } from './env.js';

/** A configuration as the service would parse it from this environment. */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  // the scheduled reconcile stays off unless a test asks for it: it would call the fake gateway APIs
  // at start-up, and tests count those calls
  return loadConfig({ REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'silent', PORT: '0', RECONCILE_EVERY_MINUTES: '0', ...env });
}
