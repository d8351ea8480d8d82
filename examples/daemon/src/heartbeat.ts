/**
 * A daemon's heartbeat loop: every `intervalMs`, POST /api/daemon/heartbeat with the token of a
 * source. The token comes from memory; refreshes (a rotated file, a new OAuth token) happen in
 * the background, so a beat never waits on one.
 */
import { type FetchLike, fetchWithToken, type TokenSource } from '@authcache/outbound';

/** One heartbeat's outcome. */
export interface Beat {
  /** HTTP status, or 0 when the request failed (network error, no token). */
  status: number;
  /** How long the beat took, in ms (token + request). */
  ms: number;
  /** `source.stats().waits` after the beat: callers that had to wait for a fetch, ever. */
  waits: number;
  error?: string;
}

/** Options of {@link startHeartbeat}. */
export interface HeartbeatOptions {
  /** The server, e.g. `http://127.0.0.1:3000`. */
  url: string;
  source: TokenSource;
  /** Default: `5_000`. */
  intervalMs?: number;
  /** Called after each beat. */
  onBeat?: (beat: Beat) => void;
  /** Default: the global `fetch`. */
  fetchImpl?: FetchLike;
}

/** Starts beating at once; `stop()` ends the loop (and waits for a beat in flight). */
export function startHeartbeat(options: HeartbeatOptions): { stop(): Promise<void> } {
  const intervalMs = options.intervalMs ?? 5_000;
  const call = fetchWithToken(options.source, options.fetchImpl);
  const target = new URL('/api/daemon/heartbeat', options.url);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  async function beat(): Promise<Beat> {
    const started = performance.now();
    try {
      const response = await call(target, { method: 'POST' });
      await response.body?.cancel();
      return {
        status: response.status,
        ms: performance.now() - started,
        waits: options.source.stats().waits,
      };
    } catch (error) {
      return {
        status: 0,
        ms: performance.now() - started,
        waits: options.source.stats().waits,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      };
    }
  }

  const loop = (async () => {
    while (!stopped) {
      options.onBeat?.(await beat());
      if (stopped) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, intervalMs);
      });
    }
  })();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await loop;
    },
  };
}
