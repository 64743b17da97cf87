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
  // on this app's own response prototype: every JSON answer of every router, errors and 404s included
  app.response.json = exactJson as typeof app.response.json;
  useRequestLog(app, deps.logger);
  for (const router of deps.routers) app.use(router);
  app.use(notFound);
  app.use(errorHandler);
  return app;
}
