// A request id on every request (taken from X-Request-Id when sane) and one log line per response.
import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import type { Logger } from 'pino';

declare module 'express-serve-static-core' {
  interface Request {
    id: string;
    log: Logger;
  }
}

const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;
const CHILD = Symbol('request logger');
const PARENT = Symbol('app logger');
type Carrier = { id: string; [PARENT]?: Logger; [CHILD]?: Logger };

// On express's own request prototype, so that mounted sub-apps (the queue dashboard) have it too.
Object.defineProperty(express.request, 'log', {
  configurable: true,
  get(this: Carrier) {
    return (this[CHILD] ??= this[PARENT]!.child({ reqId: this.id }));
  },
  set(this: Carrier, value: Logger) {
    this[CHILD] = value;
  },
});

/**
 * Gives the app's requests an id and `req.log` (a child logger carrying the id, made the first time
 * a handler logs: most requests never do), and logs one line per response.
 */
export function useRequestLog(app: Express, logger: Logger): void {
  const info = logger.isLevelEnabled('info');
  app.use((req, res, next) => {
    const given = req.get('x-request-id');
    req.id = given && SAFE_ID.test(given) ? given : randomUUID();
    (req as unknown as Carrier)[PARENT] = logger;
    res.setHeader('x-request-id', req.id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      if (!info && res.statusCode < 500) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = { method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 };
      if (res.statusCode >= 500) req.log.error(line, 'request');
      else req.log.info(line, 'request');
    });
    next();
  });
}
