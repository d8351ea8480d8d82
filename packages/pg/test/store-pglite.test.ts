import { createEmbeddedDb } from '../src/embedded.js';
import { storeContract } from './contract.js';

storeContract('PGlite (createEmbeddedDb)', async () => {
  const db = await createEmbeddedDb();
  return { db, schema: 'authcache_contract', close: () => db.close() };
});
