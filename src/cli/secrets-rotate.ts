// `npm run cli -- secrets:rotate`: seal every stored secret under the first key of SECRETS_KEY.
// Rotation: put the new key first and the old one after it (SECRETS_KEY=new,old), run this, then
// drop the old key from SECRETS_KEY. Every start does the same for the rows that need it.
import { sealStoredSecrets } from '../db/seal-stored.js';
import { activeKeyring } from '../db/secret-box.js';
import { options, type CliCommand } from './command.js';

export const secretsRotate: CliCommand = {
  summary: 'seal every stored secret under the first key of SECRETS_KEY (SECRETS_KEY=new,old while rotating)',
  async run({ database, args, out }) {
    try {
      options(args, {});
    } catch (err) {
      out(`secrets:rotate: ${(err as Error).message}`);
      return 2;
    }
    const keyring = activeKeyring();
    if (!keyring) {
      out('secrets:rotate: SECRETS_KEY is not set: set it to the new key, followed by the old one while rotating (SECRETS_KEY=new,old)');
      return 2;
    }
    const r = await sealStoredSecrets(database.db, keyring);
    out(`sealed under key ${r.keyId}: ${r.programs} program(s), ${r.subscriptions} webhook subscription(s) re-sealed; the others were already`);
    if (keyring.keys.length > 1) out(`every stored secret is now under ${r.keyId}: the older key(s) can be removed from SECRETS_KEY`);
    return 0;
  },
};
