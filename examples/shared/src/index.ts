export * from './access-keys.js';
export * from './api.js';
export * from './context.js';
export * from './s3.js';
export * from './server.js';
