import { createEmbeddedDb } from '../src/index.js';
import { storeContract } from './contract.js';

storeContract('PGlite (createEmbeddedDb)', async () => {
  const db = await createEmbeddedDb();
  return { db, schema: 'authcache_contract', close: () => db.close() };
});
