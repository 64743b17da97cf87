// Liveness and readiness. /readyz is 200 only when both Postgres and Redis answer (and, in production,
// Redis does not evict keys when full: checks.redis_policy). On the PostgreSQL queue backend there is
// no Redis: Postgres alone. The answer names the backend (queue_backend).
import { Router } from 'express';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { redactUrl } from '../config.js';
import { REQUIRED_POLICY, type EvictionPolicy } from '../redis-policy.js';
import { dashboardCredentialCheck } from './dashboard.js';

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

export function healthRouter(deps: {
  pool: pg.Pool;
  /** The queues' Redis; absent on the PostgreSQL queue backend (the queues live behind `pool`'s database). */
  redis?: Redis;
  databaseUrl: string;
  redisUrl?: string;
  /** The dashboard's credentials: a caller presenting them is told which host is down. */
  dashboardUser?: string;
  dashboardPassword?: string;
  /** Reads Redis's maxmemory-policy, shown as checks.redis_policy ('unknown' when it cannot be read). */
  redisPolicy?: () => Promise<EvictionPolicy>;
  /** Not ready while the policy read is not noeviction (NODE_ENV=production). */
  requireNoEviction?: boolean;
}) {
  const router = Router();
  const isOperator = dashboardCredentialCheck(deps.dashboardUser, deps.dashboardPassword);
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (req, res) => {
    const [postgres, redis, policy] = await Promise.allSettled([
      withTimeout(deps.pool.query('select 1'), 2000, 'postgres'),
      deps.redis ? withTimeout(deps.redis.ping(), 2000, 'redis') : Promise.resolve(null),
      deps.redisPolicy ? withTimeout(deps.redisPolicy(), 2000, 'redis') : Promise.resolve(null),
    ]);
    const checks: Record<string, string> = {
      postgres: postgres.status === 'fulfilled' ? 'ok' : 'down',
    };
    if (deps.redis) checks.redis = redis.status === 'fulfilled' ? 'ok' : 'down';
    const queueBackend = deps.redis ? 'redis' : 'postgres';
    if (deps.redisPolicy) checks.redis_policy = (policy.status === 'fulfilled' ? policy.value?.policy : null) ?? 'unknown';
    // an evicting Redis drops queued jobs when full; a policy nobody may read is not held against it
    const evicting = !!deps.requireNoEviction && checks.redis_policy !== undefined && !['unknown', REQUIRED_POLICY].includes(checks.redis_policy);
    if (checks.postgres === 'ok' && checks.redis !== 'down' && !evicting) {
      res.json({ status: 'ready', queue_backend: queueBackend, checks });
      return;
    }
    // where the stores live (host, port, database) is for operators: anyone else gets their names only
    const operator = isOperator(req);
    const name = (store: string, url: string) => (operator ? `${store} (${redactUrl(url)})` : store);
    const down = [
      checks.postgres === 'down' ? name('postgres', deps.databaseUrl) : null,
      checks.redis === 'down' ? name('redis', deps.redisUrl ?? '') : null,
    ].filter(Boolean);
    const problems = [
      down.length ? `not answering: ${down.join(', ')}` : null,
      evicting ? `redis maxmemory-policy is ${checks.redis_policy} (${REQUIRED_POLICY} required)` : null,
    ].filter(Boolean);
    res.status(503).json({
      status: 0,
      error: { code: 'not_ready', message: problems.join('; ') },
      queue_backend: queueBackend,
      checks,
    });
  });
  return router;
}
