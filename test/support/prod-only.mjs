// node --import ./test/support/prod-only.mjs dist/src/cli.js ...: see prod-only-hooks.mjs.
import { register } from 'node:module';

register('./prod-only-hooks.mjs', import.meta.url);
