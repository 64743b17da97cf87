// `GET /`: where things are, for whoever opens the service's address first.
import { Router } from 'express';
import { VERSION } from '../version.js';

export function homeRouter(deps: { dashboard: boolean }) {
  const router = Router();
  router.get('/', (_req, res) => {
    res.json({
      service: 'partner-ledger',
      version: VERSION,
      docs: '/docs',
      openapi: '/v1/openapi.json',
      api: '/v1',
      health: '/healthz',
      ready: '/readyz',
      dashboard: '/admin/queues',
      dashboard_open: deps.dashboard,
      metrics: '/metrics',
    });
  });
  return router;
}
