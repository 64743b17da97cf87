// The README's ten-minute tour runs as written, on a fresh database: the `export` line is the
// service's environment and the shell's, `npm start` is the service this test starts, and every other
// command runs in bash (the service's address put in for http://127.0.0.1:3000).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './support/service.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const tour = /<!-- tour:start -->([\s\S]*?)<!-- tour:end -->/.exec(readme)?.[1] ?? '';
const lines = [...tour.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n').filter((l) => l.trim()));
const exportLine = lines.find((l) => l.startsWith('export '));
const tourEnv = Object.fromEntries(
  (exportLine ?? '')
    .slice('export '.length)
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => pair.split('=', 2) as [string, string]),
);
const commands = lines.filter((l) => !l.startsWith('export ') && l !== 'npm start');

let svc: TestService;
let shellEnv: NodeJS.ProcessEnv;
beforeAll(async () => {
  svc = await startTestService(tourEnv);
  shellEnv = {
    ...process.env,
    ...tourEnv,
    // the CLI reads the same configuration the service does
    PORT: String(svc.service.port),
    DATABASE_URL: svc.db.url,
    REDIS_URL: svc.service.config.REDIS_URL,
    QUEUE_PREFIX: svc.service.config.QUEUE_PREFIX,
    LOG_LEVEL: 'silent',
  };
});
afterAll(async () => {
  await svc?.stop();
});

describe('the README tour', () => {
  it('starts with an API key and dashboard credentials, and has the steps the README promises', () => {
    expect(tourEnv).toMatchObject({ API_KEY: expect.any(String), STRIPE_WEBHOOK_SECRET: expect.any(String), DASHBOARD_USER: expect.any(String) });
    expect(lines).toContain('npm start');
    expect(commands.some((c) => c.includes('/v1/partners'))).toBe(true);
    expect(commands.some((c) => c.startsWith('npm run cli -- send-test-webhook '))).toBe(true);
    expect(commands.some((c) => c.includes('/v1/transactions'))).toBe(true);
    expect(commands.some((c) => c.includes('/docs'))).toBe(true);
    expect(commands.some((c) => c.includes('/admin/queues'))).toBe(true);
  });

  it('runs as written, in order, and ends with a credited transaction that explains itself', { timeout: 120_000 }, async () => {
    const outputs: string[] = [];
    for (const command of commands) {
      const line = command.replaceAll('http://127.0.0.1:3000', svc.url);
      const { stdout } = await promisify(execFile)('bash', ['-c', `set -o pipefail; ${line}`], { env: shellEnv, encoding: 'utf8' });
      outputs.push(stdout);
    }
    const [partner, sent, listed, docs, dashboard] = outputs;
    expect(JSON.parse(partner!)).toMatchObject({ status: 1, data: { key: 'PARTNER_A' } });
    expect(sent).toMatch(/→ 200 /);
    expect(sent).toContain('credited to PARTNER_A');
    const tx = (JSON.parse(listed!) as { data: Record<string, any>[] }).data[0]!; // eslint-disable-line @typescript-eslint/no-explicit-any
    // what the README says step 4 shows
    expect(tx).toMatchObject({ amount: 49, amount_units: 'USD', partner: 'PARTNER_A' });
    expect(tx.rewards).toHaveLength(1);
    expect(tx.rewards[0].amount).toBe(9.8);
    expect(tx.attribution).toMatchObject({ partner_key_place: 'stripe_payment_intent_metadata', customer_match: 'created', reward_reason: null });
    expect(docs!.trim()).toBe('200');
    expect(dashboard!.trim()).toBe('200');
  });
});
