// Requests on the wire exactly as a client builds them: any method with any body (a GET with a JSON
// body, as Partnero's PHP SDK sends it; fetch refuses that), the raw answer back.
import http from 'node:http';

export type WireAnswer = {
  status: number;
  /** The Content-Type header exactly as sent. */
  type: string | undefined;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body decoded as the PHP SDK does: only when Content-Type is exactly application/json, else the raw string. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
};

export function wire(baseUrl: string, method: string, path: string, opts: { body?: string; headers?: Record<string, string> } = {}): Promise<WireAnswer> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, headers: { ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const type = res.headers['content-type'];
          resolve({ status: res.statusCode ?? 0, type, headers: res.headers, text, body: type === 'application/json' && text ? JSON.parse(text) : text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}
