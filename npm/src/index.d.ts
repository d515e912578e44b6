/**
 * @eventstream/sdk: the browser SDK of Eventstream.
 *
 * ```ts
 * import { init } from '@eventstream/sdk';
 * const es = await init({ writeKey: 'wk_...', endpoint: 'https://relay.example.workers.dev' });
 * es.track('Product Added', { product_id: 'p-0191', price: 89.58 });
 * ```
 */

/** A JSON value: what event properties and traits may hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue | undefined };

/** Event properties or user traits: a plain object of JSON values. */
export type Properties = { [key: string]: JsonValue | undefined };

/** Which interactions are captured without code (each defaults to `true`). */
export interface AutocaptureOptions {
  /** A page view on load and on SPA navigation (history API, hashchange). */
  pageviews?: boolean;
  /** Clicks on links, buttons and `[data-track]` elements. */
  clicks?: boolean;
  /** Form submits (the form's id and field count, never the values). */
  forms?: boolean;
}

/**
 * Bound of the persistent queue (localStorage). Frames waiting their turn
 * take later events instead of queueing more frames; when the bound or the
 * storage quota is reached, the oldest frames are dropped first.
 */
export interface QueueOptions {
  /** Most frame bytes kept (stored as base64: a third more). Default 2,000,000; at least 65,536. */
  maxBytes?: number;
}

/** Options of {@link init}. */
export interface InitOptions {
  /** The site's write key (public; the relay checks the page's origin against it). */
  writeKey: string;
  /** The relay's base URL, e.g. `https://relay.example.workers.dev`. */
  endpoint: string;
  /** Auto-capture switches, or `false` for none. Default: all on. */
  autocapture?: boolean | AutocaptureOptions;
  /** Seal a frame at this many events. Default 50. */
  flushAt?: number;
  /** Seal a frame once it holds this many bytes (1,024 to 65,536; a frame never passes the relay's 65,536). Default 16,384. */
  flushBytes?: number;
  /** Seal a frame this many ms after its first event. Default 3,000. */
  flushInterval?: number;
  /** Same as `flushInterval` while the trigger socket is open. Default 0: the next task, so calls made together still share a frame. */
  socketFlushInterval?: number;
  /**
   * Deflate each HTTP request (a bundle of the frames waiting) with `CompressionStream` when
   * available and smaller. On the trigger socket frames go as they are: the browser compresses each
   * message with the socket's earlier ones (permessage-deflate, which the relay agrees to). Default
   * true.
   */
  compress?: boolean;
  /** Persistent queue bounds. */
  queue?: QueueOptions;
  /** Open the visitor WebSocket and deliver trigger firings. Default true. */
  triggers?: boolean;
  /** Start opted out until `optIn()` (a stored choice wins). Default false. */
  optedOut?: boolean;
  /** Treat `navigator.globalPrivacyControl` as an opt-out. Default false. */
  honorGlobalPrivacyControl?: boolean;
  /**
   * Log what the SDK does with `console.debug`, including, for each frame
   * the relay acknowledges, its tracking plan's verdict counts (`plan`
   * flagged / quarantined / violations) when it reports any. Default false.
   */
  debug?: boolean;
  /** Errors of what the SDK does on its own (delivery, auto-capture, handlers). */
  onError?: (error: EventstreamError) => void;
  /** Where to load the wasm from, if not next to the JS file. */
  wasmUrl?: string | URL;
}

/** What every error of the SDK is: an `Error` with a stable `code`. */
export interface EventstreamError extends Error {
  /**
   * `invalid_argument`, `event_too_large`, `queue_full`, `wasm_load_failed`,
   * `triggers_unavailable` (the trigger socket's `socket.js` did not load),
   * or the relay's code for a refused frame (`unknown_write_key`,
   * `origin_not_allowed`, `frame_too_large`, `checksum` ...).
   */
  code: string;
  /** HTTP status, for errors answered by the relay. */
  status?: number;
  /** Frames dropped so far, for `queue_full`. */
  dropped?: number;
}

/** A trigger firing pushed by the relay. */
export interface Firing {
  /** Unique id; a firing reaches the handlers once. */
  firing_id: string;
  /** The trigger's name in the trigger file. */
  trigger: string;
  /** The visitor's anonymous id. */
  visitor: string;
  /** When it fired, ms since the epoch. */
  time: number;
  /** What the page should do. */
  action: { type: string; payload: { [key: string]: JsonValue } };
}

/** Delivery figures of a client. */
export interface Stats {
  /** This page's producer id (16 hex digits). */
  producer: string;
  /** Frames waiting in the persistent queue. */
  queued: number;
  /** Frames dropped because the queue was full, ever (persisted). */
  dropped: number;
  /** Events in the open frame. */
  pending: number;
  /** Whether the trigger socket is open. */
  connected: boolean;
}

/** A running SDK instance. */
export interface Client {
  /** Records a custom event. Throws `invalid_argument` on a bad name or properties. */
  track(name: string, properties?: Properties): void;
  /** Records a page view (url, path and title are added). */
  page(name?: string, properties?: Properties): void;
  /** Attaches a user id (and traits) to this visitor's next events. */
  identify(userId: string, traits?: Properties): void;
  /** Forgets the user and starts a new anonymous identity and session. */
  reset(): void;
  /** Seals the open frame and resolves once the queue has nothing to send right now. */
  flush(): Promise<void>;
  /**
   * Calls `handler` once per firing whose action type (or trigger name) is
   * `type`, or for every firing with `'*'`. Returns a function that unregisters it.
   */
  onTrigger(type: string, handler: (firing: Firing) => void): () => void;
  /** Stops all capture, clears the queue and the stored identity; remembered. */
  optOut(): void;
  /** Resumes capture after `optOut()` or the `optedOut` option; remembered. */
  optIn(): void;
  /** Whether the visitor is opted out. */
  isOptedOut(): boolean;
  /** Queue and connection figures. */
  stats(): Stats;
  /** Hands pending frames to the browser, removes every listener and closes the socket. */
  destroy(): void;
}

/**
 * Loads the WebAssembly core and starts the SDK. Rejects with
 * `invalid_argument` on bad options. On a server (no `window`) it resolves
 * to a client that does nothing.
 */
export function init(options: InitOptions): Promise<Client>;
