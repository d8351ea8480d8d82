export * from './api.js';
export * from './context.js';
export * from './server.js';
