/**
 * @authcache/file: split tokens (`<prefix><id>.<secret>`) kept in a human-editable JSON file,
 * secrets under a slow hash, reloaded on change. See the package README and `docs/secrets.md`.
 */
export type { LoadedRow, TokenFileData, TokenRow } from './format.js';
export { formatTokenFile, parseTokenFile, TokenFileError } from './format.js';
export type { FileTokenStore, FileTokenStoreOptions, Invalidator } from './store.js';
export { createFileTokenStore } from './store.js';
export type { UpdateOptions } from './write.js';
export { addTokenRow, revokeTokenRow, updateTokenFile } from './write.js';
