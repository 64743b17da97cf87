// Liveness and readiness. /readyz is 200 only when both Postgres and Redis answer.
import { Router } from 'express';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { redactUrl } from '../config.js';

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

export function healthRouter(deps: { pool: pg.Pool; redis: Redis; databaseUrl: string; redisUrl: string }) {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, redis] = await Promise.allSettled([
      withTimeout(deps.pool.query('select 1'), 2000, 'postgres'),
      withTimeout(deps.redis.ping(), 2000, 'redis'),
    ]);
    const checks = {
      postgres: postgres.status === 'fulfilled' ? 'ok' : 'down',
      redis: redis.status === 'fulfilled' ? 'ok' : 'down',
    };
    if (checks.postgres === 'ok' && checks.redis === 'ok') {
      res.json({ status: 'ready', checks });
      return;
    }
    const down = [
      checks.postgres === 'down' ? `postgres (${redactUrl(deps.databaseUrl)})` : null,
      checks.redis === 'down' ? `redis (${redactUrl(deps.redisUrl)})` : null,
    ].filter(Boolean);
    res.status(503).json({
      status: 0,
      error: { code: 'not_ready', message: `not answering: ${down.join(', ')}` },
      checks,
    });
  });
  return router;
}
