// The API reference's curl examples (docs/api.md, linked from the README) run as written against the
// service (with its example key). The README's own tour runs in readme-tour.test.ts.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './support/service.js';

const readme = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');
const block = /<!-- curl-examples:start -->([\s\S]*?)<!-- curl-examples:end -->/.exec(readme)?.[1] ?? '';
const commands = block.split('\n').filter((l) => l.startsWith('curl '));

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ API_KEY: 'dev_key_change_me' });
});
afterAll(async () => {
  await svc?.stop();
});

describe('docs/api.md curl examples', () => {
  it('has examples for every resource', () => {
    expect(commands.length).toBeGreaterThanOrEqual(12);
  });

  it('each one answers 2xx, in order, on a fresh database', async () => {
    // (asynchronously: the service answering them runs in this process)
    for (const command of commands) {
      const line = `${command.replaceAll('http://127.0.0.1:3000', svc.url)} --max-time 10 -o /dev/null -w '%{http_code}'`;
      const { stdout: status } = await promisify(execFile)('bash', ['-c', line], { encoding: 'utf8' });
      expect(Number(status), command).toBeGreaterThanOrEqual(200);
      expect(Number(status), command).toBeLessThan(300);
    }
  });
});
