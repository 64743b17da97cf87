// The express application: shared middleware, the routers of each area, the error envelope.
import express, { type Router } from 'express';
import type { Logger } from 'pino';
import { errorHandler, notFound } from './errors.js';
import { useRequestLog } from './request-log.js';

export function createApp(deps: { logger: Logger; routers: Router[] }) {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  useRequestLog(app, deps.logger);
  for (const router of deps.routers) app.use(router);
  app.use(notFound);
  app.use(errorHandler);
  return app;
}
