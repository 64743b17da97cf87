import { loadConfig, type Config } from '../../src/config.js';
import { TEST_REDIS_URL } from './env.js';

/** A configuration as the service would parse it from this environment. */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({ REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'silent', PORT: '0', ...env });
}
