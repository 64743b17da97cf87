// Structured logs. Secrets, signatures, API keys and raw bodies are never logged.
// LOG_FORMAT=json (one JSON object a line, for log collectors) or pretty (one human line a record, for
// a terminal): pino writes JSON either way, and pretty reformats each line as it is written, in this
// process, with no transport or extra package.
import { pino, type DestinationStream, type Logger } from 'pino';

export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** LOG_FORMAT's default: pretty when stdout is a terminal (a person is reading), json otherwise. */
export function defaultLogFormat(stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  return stdout.isTTY ? 'pretty' : 'json';
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every record carries that a person at a terminal does not need on each line. */
const QUIET = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'service']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  // an error serialized by pino: its message says it (the stack is in the json format)
  if (v && typeof v === 'object' && 'message' in v && 'stack' in v) return JSON.stringify((v as { message: unknown }).message);
  return JSON.stringify(v);
}

/**
 * One JSON log line as a person reads it: `08:45:01.123 INFO  api listening  port=3000`. A start-up
 * summary (`summary: true`) is its sentence alone; an HTTP line reads `GET /v1/partners 200 3.1 ms`.
 */
export function prettyLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const level = (LEVELS[rec.level as number] ?? String(rec.level)).padEnd(5);
  let msg = typeof rec.msg === 'string' ? rec.msg : '';
  const rest = Object.entries(rec).filter(([k]) => !QUIET.has(k));
  let fields = rest;
  if (rec.summary === true) fields = [];
  else if (msg === 'request' && typeof rec.method === 'string') {
    msg = `${rec.method} ${String(rec.path)} ${String(rec.status)} ${String(rec.ms)} ms`;
    fields = rest.filter(([k]) => !['method', 'path', 'status', 'ms'].includes(k));
  }
  const extra = fields.map(([k, v]) => `${k}=${value(v)}`).join(' ');
  return `${time} ${level} ${msg}${extra ? `  ${extra}` : ''}\n`;
}

/** A destination that writes each JSON line as a pretty one. */
export function prettyStream(out: { write(s: string): unknown } = process.stdout): DestinationStream {
  return { write: (line: string) => void out.write(prettyLine(line)) };
}

export function createLogger(level: string, opts: { format?: LogFormat; destination?: { write(s: string): unknown } } = {}): Logger {
  const options = {
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
  };
  if ((opts.format ?? 'json') === 'pretty') return pino(options, prettyStream(opts.destination));
  return opts.destination ? pino(options, opts.destination as DestinationStream) : pino(options);
}
export type { Logger };
