import { storeContract } from './contract.js';
import { createPool, dropSchema, freshSchemaName } from './helpers.js';

storeContract('real Postgres (pg.Pool)', async () => {
  const schema = freshSchemaName('contract');
  const pool = createPool();
  return {
    db: pool,
    schema,
    async close() {
      await pool.end();
      await dropSchema(schema);
    },
  };
});
