export {
  CLOSE_TRY_AGAIN_LATER,
  CLOSE_UNAUTHORIZED,
  closeCode,
  closeReason,
} from './close-codes.js';
export type { HandleProtocols, ProtocolSelectionOptions } from './credentials.js';
export {
  BEARER_PROTOCOL,
  looksLikeCredential,
  offeredProtocols,
  protocolToken,
  selectBearerProtocol,
} from './credentials.js';
export type { UpgradeGuard, UpgradeGuardOptions } from './guard.js';
export { createUpgradeGuard } from './guard.js';
export { MAX_TIMER_DELAY } from './live.js';
