// The express application: shared middleware, the routers of each area, the error envelope.
import express, { type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { errorHandler, notFound } from './errors.js';
import { useRequestLog } from './request-log.js';

/**
 * `res.json` with `Content-Type: application/json` exactly. Express appends `; charset=utf-8`, and
 * Partnero's PHP SDK decodes a body only when the header is exactly `application/json` (JSON is UTF-8
 * by definition, RFC 8259, so the parameter says nothing). Sent as bytes, so express adds no charset;
 * ETag, HEAD and Content-Length are handled by `res.send` as before.
 */
function exactJson(this: Response, body: unknown): Response {
  const text = JSON.stringify(body, this.app.get('json replacer'), this.app.get('json spaces')) as string | undefined;
  // setHeader, not set: res.set appends the charset too (mime.contentType)
  if (!this.get('Content-Type')) this.setHeader('Content-Type', 'application/json');
  return this.send(Buffer.from(text ?? '', 'utf8'));
}

export function createApp(deps: { logger: Logger; routers: Router[] }) {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  // on each response itself, not only this app's response prototype: an express app mounted inside
  // (the queue dashboard's bull-board) swaps the prototype for its own, and its JSON carried the charset
  app.response.json = exactJson as typeof app.response.json;
  app.use((_req, res, next) => {
    res.json = exactJson as typeof res.json;
    next();
  });
  useRequestLog(app, deps.logger);
  for (const router of deps.routers) app.use(router);
  app.use(notFound);
  app.use(errorHandler);
  return app;
}
