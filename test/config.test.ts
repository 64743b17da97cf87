import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactUrl } from '../src/config.js';
import { envList } from '../src/gateways/settings-fields.js';

describe('configuration from the environment', () => {
  it('has working defaults for a local Postgres and Redis', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/partner_ledger');
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.PROCESS_ROLE).toBe('all');
    expect(c.LOG_LEVEL).toBe('info');
    expect(c.API_KEY).toBeUndefined();
    expect(c.DASHBOARD_USER).toBeUndefined();
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ API_KEY: '', STRIPE_API_BASE: ' ' }).API_KEY).toBeUndefined();
  });

  it.each([
    ['PORT', 'abc', /^invalid configuration: PORT="abc": /],
    ['PORT', '70000', /PORT="70000"/],
    ['PROCESS_ROLE', 'both', /PROCESS_ROLE="both"/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL="mysql:\/\/x"/],
    ['REDIS_URL', 'not a url', /REDIS_URL="\(unparseable URL\)"/],
    ['STRIPE_API_BASE', 'ftp://example.org', /STRIPE_API_BASE="ftp:\/\/example.org\/"/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL="loud"/],
  ])('stops on %s=%s with one line naming the variable', (name, value, pattern) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(pattern);
    expect((error as Error).message).not.toContain('\n');
  });

  it('never repeats a secret value in its message', () => {
    expect(() => loadConfig({ DATABASE_URL: 'nope://user:hunter2@h/db' })).toThrow(/DATABASE_URL="nope:\/\/user:\*\*\*@h\/db"/);
    expect(() => loadConfig({ REDIS_URL: 'http://user:hunter2@h' })).toThrow(ConfigError);
    try {
      loadConfig({ REDIS_URL: 'http://user:hunter2@h' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('redacts passwords in URLs and splits rotated secrets', () => {
    expect(redactUrl('postgres://app:s3cret@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(envList('whsec_a, whsec_b,,')).toEqual(['whsec_a', 'whsec_b']);
  });
});
