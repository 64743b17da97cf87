// Module resolution hooks (node --import ./test/support/prod-only.mjs): a bare import made by the
// compiled build (dist/) that names a dev dependency fails, as it would in the Docker image, which
// installs production dependencies only. Each package the build imports is appended to PL_IMPORTS_LOG.
import { appendFileSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import process from 'node:process';
import { URL } from 'node:url';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
const dev = new Set(Object.keys(pkg.devDependencies ?? {}));
const builtins = new Set(builtinModules);
const DIST = new URL('../../dist/', import.meta.url).href;

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

export async function resolve(specifier, context, next) {
  const bare = !/^(node:|file:|data:|\.|\/)/.test(specifier) && !builtins.has(specifier.split('/')[0]);
  if (bare && context.parentURL?.startsWith(DIST)) {
    const name = packageName(specifier);
    if (process.env.PL_IMPORTS_LOG) appendFileSync(process.env.PL_IMPORTS_LOG, `${name}\n`);
    if (dev.has(name)) throw new Error(`the build imports a dev dependency: ${name} (from ${context.parentURL})`);
  }
  return next(specifier, context);
}
