// Test support lives in @authcache/testkit, shared with the other packages' tests.
export * from '@authcache/testkit';
