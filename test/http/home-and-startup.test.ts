// `GET /` names where things are; start-up logs one human line (API, docs, dashboard, key, stores) and,
// without any key for the default program, how to create one; a restart without API_KEY keeps the key.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../../src/service.js';
import { callApi } from '../support/api.js';
import { testConfig } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { removePrefix, testPrefix } from '../support/redis.js';

type Line = { level: number; msg: string };

/** Start the service on `db` with `env`, collecting its log lines. */
async function start(db: TestDatabase, prefix: string, env: Record<string, string>) {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  const config = testConfig({ DATABASE_URL: db.url, QUEUE_PREFIX: prefix, PORT: '0', ...env });
  const service = await startService(config, pino({ level: 'info' }, sink));
  return { service, lines, url: `http://127.0.0.1:${service.port}` };
}

let db: TestDatabase;
const prefix = testPrefix();
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
  await removePrefix(prefix);
});

describe('first contact', () => {
  it('without any key: GET / answers where things are; the log says where, that no key is set and how to make one', async () => {
    const { service, lines, url } = await start(db, prefix, {});
    try {
      const res = await fetch(`${url}/`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        service: 'partner-ledger',
        version: expect.stringMatching(/^\d+\.\d+\.\d+/),
        docs: '/docs',
        ready: '/readyz',
        dashboard: '/admin/queues',
        dashboard_open: false,
      });
      const summary = lines.find((l) => l.msg.startsWith('Partner Ledger '))!;
      expect(summary.msg).toContain(`API ${url}/v1, docs ${url}/docs`);
      expect(summary.msg).toContain(`dashboard ${url}/admin/queues (closed until DASHBOARD_USER and DASHBOARD_PASSWORD are set)`);
      expect(summary.msg).toContain('API key: none for the default program; create one: npm run cli -- keys:create');
      expect(summary.msg).toMatch(/stores: PostgreSQL postgres:\/\/.*, Redis redis:\/\/.* \(BullMQ queues, prefix /);
      const warning = lines.find((l) => l.level === 40 && l.msg.includes('no API key'))!;
      expect(warning.msg).toContain('npm run cli -- keys:create');
      expect(warning.msg).toContain('The queue dashboard is closed');
    } finally {
      await service.stop();
    }
  });

  it('with API_KEY and dashboard credentials, the line says both are set (and never shows them)', async () => {
    const { service, lines, url } = await start(db, prefix, { API_KEY: 'key_kept_across_restarts', DASHBOARD_USER: 'ops', DASHBOARD_PASSWORD: 'pw_not_logged' });
    try {
      const summary = lines.find((l) => l.msg.startsWith('Partner Ledger '))!;
      expect(summary.msg).toContain('(DASHBOARD_USER and DASHBOARD_PASSWORD set)');
      expect(summary.msg).toContain('API key: API_KEY');
      expect(JSON.stringify(lines)).not.toContain('key_kept_across_restarts');
      expect(JSON.stringify(lines)).not.toContain('pw_not_logged');
      expect((await fetch(`${url}/`).then((r) => r.json()) as { dashboard_open: boolean }).dashboard_open).toBe(true);
      expect((await callApi(url, 'GET', '/v1/test', undefined, 'key_kept_across_restarts')).status).toBe(200);
    } finally {
      await service.stop();
    }
  });

  it('a restart without API_KEY keeps the key it set: clients are not locked out', async () => {
    const { service, lines, url } = await start(db, prefix, {});
    try {
      expect((await callApi(url, 'GET', '/v1/test', undefined, 'key_kept_across_restarts')).status).toBe(200);
      const summary = lines.find((l) => l.msg.startsWith('Partner Ledger '))!;
      expect(summary.msg).toContain('API key: API_KEY set at an earlier start, kept');
      expect(lines.some((l) => l.msg.includes('no API key'))).toBe(false);
    } finally {
      await service.stop();
    }
  });

  it('a changed API_KEY retires the old one', async () => {
    const { service, url } = await start(db, prefix, { API_KEY: 'key_after_change' });
    try {
      expect((await callApi(url, 'GET', '/v1/test', undefined, 'key_after_change')).status).toBe(200);
      expect((await callApi(url, 'GET', '/v1/test', undefined, 'key_kept_across_restarts')).status).toBe(401);
    } finally {
      await service.stop();
    }
  });
});
