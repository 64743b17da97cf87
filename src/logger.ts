// Structured logs. Secrets, signatures, API keys and raw bodies are never logged.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'partner-ledger' },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["stripe-signature"]',
        'req.headers["paddle-signature"]',
        'req.headers["x-wc-webhook-signature"]',
        'req.headers.cookie',
        '*.password',
        '*.secret',
        '*.apiKey',
        'rawBody',
      ],
      censor: '[redacted]',
    },
  });
}
export type { Logger };
