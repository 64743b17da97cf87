// LOG_FORMAT: the service as `npm start` runs it (a child process) writes one human line a record
// with pretty, one JSON object a line with json; unset, pretty on a terminal and json elsewhere; an
// invalid value is a configuration error naming the variable.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, defaultLogFormat } from '../src/logger.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { TEST_REDIS_URL } from './support/env.js';
import { removePrefix, testPrefix } from './support/redis.js';

let db: TestDatabase;
const prefix = testPrefix();
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
  await removePrefix(prefix);
});

/** Start the service with `env`, wait for its start-up summary, stop it with SIGTERM; what it wrote. */
async function run(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // port 0: a port found free here and handed over could be taken by another process meanwhile
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let stopping = false;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    // started (the summary line is whole): stop it as an operator would
    if (!stopping && /Partner Ledger [^\n]* started[^\n]*\n/.test(stdout)) {
      stopping = true;
      child.kill('SIGTERM');
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}

describe('LOG_FORMAT', { timeout: 120_000 }, () => {
  it('pretty: one human line a record, none of them JSON; the start-up line reads as a sentence', async () => {
    const { code, stdout } = await run({ LOG_FORMAT: 'pretty', API_KEY: 'pl_log_format_key' });
    expect(code).toBe(0);
    const lines = stdout.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) {
      expect(() => JSON.parse(line), line).toThrow();
      expect(line).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) /);
    }
    const summary = lines.find((l) => l.includes('Partner Ledger '))!;
    expect(summary).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} INFO {2}Partner Ledger \S+ started \(API and worker\); API http:\/\/127\.0\.0\.1:\d+\/v1, docs /);
    // the sentence alone: no key=value tail
    expect(summary).not.toMatch(/summary=|keys=|role=/);
    expect(lines).toContainEqual(expect.stringMatching(/ INFO {2}api listening {2}port=\d+$/));
    expect(lines).toContainEqual(expect.stringMatching(/ INFO {2}stopped$/));
    expect(stdout).not.toContain('pl_log_format_key');
  });

  it('json: every line is a JSON object', async () => {
    const { code, stdout } = await run({ LOG_FORMAT: 'json' });
    expect(code).toBe(0);
    const lines = stdout.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(3);
    const records = lines.map((l) => JSON.parse(l) as { msg: string; level: number });
    expect(records).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/^Partner Ledger \S+ started/), summary: true }));
  });

  it('unset: json when stdout is not a terminal (as here), pretty when it is', async () => {
    const { stdout } = await run({});
    for (const line of stdout.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    expect(defaultLogFormat({ isTTY: true })).toBe('pretty');
    expect(defaultLogFormat({ isTTY: false })).toBe('json');
    expect(defaultLogFormat({})).toBe('json');
  });

  it('an invalid value is a configuration error naming the variable', async () => {
    const { code, stdout, stderr } = await run({ LOG_FORMAT: 'fancy' });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe('partner-ledger: invalid configuration: LOG_FORMAT="fancy": Invalid option: expected one of "pretty"|"json"\n');
  });

  it('pretty keeps secrets out as json does, and says an HTTP line in words', () => {
    const out: string[] = [];
    const logger = createLogger('info', { format: 'pretty', destination: { write: (s) => out.push(s) } });
    logger.info({ config: { password: 'hunter2' }, reqId: 'r1' }, 'with a secret');
    logger.info({ reqId: 'r2', method: 'GET', path: '/v1/partners', status: 200, ms: 3.1 }, 'request');
    logger.warn({ err: new Error('it broke'), gateway: 'stripe' }, 'payment job failed, will retry');
    expect(out).toHaveLength(3);
    expect(out[0]).toMatch(/ INFO {2}with a secret {2}config=\{"password":"\[redacted\]"\} reqId=r1\n$/);
    expect(out[1]).toMatch(/ INFO {2}GET \/v1\/partners 200 3\.1 ms {2}reqId=r2\n$/);
    expect(out[2]).toMatch(/ WARN {2}payment job failed, will retry {2}err="it broke" gateway=stripe\n$/);
    expect(out.join('')).not.toContain('hunter2');
  });
});
