// GET /metrics: the Prometheus exposition of this process (queue sizes are read from Redis then).
import { Router } from 'express';
import type { Metrics } from '../metrics.js';

export function metricsRouter(metrics: Metrics): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const body = await metrics.render();
    res.setHeader('content-type', metrics.contentType);
    res.setHeader('cache-control', 'no-store');
    res.send(body);
  });
  return router;
}
