// The REST API v1: JSON bodies, bearer API keys, one router per resource.
import express, { Router } from 'express';
import type { ClockSkew } from '../../clock-skew.js';
import type { Db } from '../../db/client.js';
import type { ProgramRulesSource } from '../../db/programs.js';
import type { Queue } from 'bullmq';
import type { BulkJobData } from '../../queue/queues.js';
import { apiKeysRouter } from './api-keys.js';
import { apiKeyAuth } from './auth.js';
import { bulkRouter } from './bulk.js';
import { couponsRouter } from './coupons.js';
import { docsRouter } from './openapi.js';
import { jsTrackingRouter } from './js-tracking.js';
import { customersRouter } from './customers.js';
import { balancesRouter } from './balances.js';
import { partnersRouter } from './partners.js';
import { payoutsRouter } from './payouts.js';
import { programRouter } from './program.js';
import { referralLinksRouter } from './referral-links.js';
import { rewardsRouter } from './rewards.js';
import { bodyParams } from './respond.js';
import { createTransaction, transactionsRouter } from './transactions.js';
import { integrationsRouter } from './integrations.js';
import { unsupportedRouter } from './unsupported.js';
import { webhooksRouter, type WebhooksDeps } from './webhooks.js';

export function apiRouter(deps: {
  db: Db;
  programs: ProgramRulesSource;
  /** The receivers' cache of programs, told when a program's settings change. */
  receiving?: { invalidate(id: string): void };
  bodyLimit: number;
  bulkQueue: Queue<BulkJobData>;
  jsRateLimitPerMinute: number;
  outbound: WebhooksDeps['outbound'];
  integrationSilenceHours?: number;
  /** This host's clock against the database's, for the integration status' warnings. */
  clockSkew?: () => ClockSkew | null;
}) {
  const router = Router();
  router.use(docsRouter());
  router.use(jsTrackingRouter({ ...deps, perMinute: deps.jsRateLimitPerMinute }));
  router.use('/v1', express.json({ limit: deps.bodyLimit, type: () => true }), bodyParams, apiKeyAuth(deps.db, deps.programs));
  router.use(bulkRouter(deps));
  router.use(transactionsRouter(deps));
  router.use(partnersRouter(deps));
  router.use(referralLinksRouter(deps));
  router.use(couponsRouter(deps));
  router.use(balancesRouter(deps));
  router.use(payoutsRouter(deps));
  router.use(customersRouter({ db: deps.db, createTransaction: (p, body) => createTransaction(deps.db, p, body, { eventType: 'api.customers.create' }) }));
  router.use(programRouter(deps));
  router.use(rewardsRouter(deps));
  router.use(integrationsRouter(deps));
  router.use(webhooksRouter(deps));
  router.use(apiKeysRouter(deps));
  router.use(unsupportedRouter());
  return router;
}
