// The service's version, from package.json (found beside src/ when run by tsx, beside dist/ when built).
import { readFileSync } from 'node:fs';

function read(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'partner-ledger' && pkg.version) return pkg.version;
    } catch {
      // not there: try the next place
    }
  }
  return 'unknown';
}

export const VERSION = read();
