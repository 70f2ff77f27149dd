/**
 * The hot endpoint's logic, with no HTTP in it: key + request -> image response. Composes storage,
 * the limiter, coalescing and the pipeline; http/app.ts only translates to and from HTTP.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { BufferPool } from './buffer-pool.ts';
import type { ResultCache } from './cache/index.ts';
import { Coalescer } from './coalesce.ts';
import { computeEtag, ifNoneMatchMatches } from './conditional.ts';
import { ImageError } from './errors.ts';
import type { Limiter } from './limiter.ts';
import type { ServiceMetrics } from './metrics.ts';
import { canonicalVariant, type ImageRequest, type ResizeRequest } from './params.ts';
import { renderImage, type PipelineLimits } from './pipeline.ts';
import { onGifScreen } from './gif-screen.ts';
import { checkComplete } from './source-checks.ts';
import { contentTypeOf } from './formats.ts';
import type { SourceHead, SourceInfo, SourceObject, SourceStore } from './storage/index.ts';
import { peekHead } from './storage/peek.ts';

export interface ImageServiceOptions extends PipelineLimits {
  maxInputBytes: number;
  requestTimeoutMs: number;
  /** Bound on one render's processing (sharp's `timeout`, rounded up to whole seconds). */
  renderTimeoutMs: number;
  storageTimeoutMs: number;
}

export interface ImageResult {
  status: 200 | 304;
  headers: Record<string, string>;
  /** null for 304 and HEAD. */
  body: Buffer | Readable | null;
}

interface Rendered {
  body: Buffer;
  contentType: string;
  etag: string;
  lastModified: Date;
}

/** An original read from storage into a pooled buffer, ready for a slot; `release()` gives the buffer back. */
interface Fetched {
  input: Buffer;
  info: SourceInfo;
  release(): void;
}

const CACHE_CONTROL = 'public, max-age=31536000';
/** Enough of the first bytes to recognise every supported format (formats.ts). */
const SNIFF_BYTES = 16;

interface FlightStage {
  started: boolean;
  /** How long the render waited for a slot before it started (ms). */
  queuedMs?: number;
}

/**
 * A render that ran out of time after waiting longer than this share of its deadline for a slot
 * lost that time to load, not to its own cost: it is shed (503 + Retry-After), like a request
 * that never left the queue. Only a render that had its deadline (nearly) to itself and still ran
 * out is a 504, the answer the front door replays on legacy: overload must not be replayed there.
 */
const QUEUED_SHARE_OF_OVERLOAD = 0.1;

export class ImageService {
  readonly #store: SourceStore;
  readonly #limiter: Limiter;
  readonly #metrics: ServiceMetrics;
  readonly #options: ImageServiceOptions;
  readonly #flights = new Coalescer<Rendered>();
  /** Whether each flight in progress has left the queue (a deadline before that is a shed, 503). */
  readonly #stages = new Map<string, FlightStage>();
  readonly #buffers: BufferPool;
  readonly #cache: ResultCache | undefined;

  constructor(deps: { store: SourceStore; limiter: Limiter; metrics: ServiceMetrics; options: ImageServiceOptions; cache?: ResultCache }) {
    this.#store = deps.store;
    this.#limiter = deps.limiter;
    this.#metrics = deps.metrics;
    this.#options = deps.options;
    this.#cache = deps.cache;
    // One buffer per resize slot, one per original read ahead of its slot (Limiter lookahead),
    // and one for the read that starts as a slot frees up.
    this.#buffers = new BufferPool({ maxFree: deps.limiter.concurrency + deps.limiter.lookahead + 1 });
  }

  /** A fresh deadline for one request; its time in the queue counts against it. */
  deadline(): AbortSignal {
    return AbortSignal.timeout(this.#options.requestTimeoutMs);
  }

  async handle(
    key: string,
    request: ImageRequest,
    conditional: { ifNoneMatch: string | undefined; head: boolean; signal: AbortSignal; log?: Logger },
  ): Promise<ImageResult> {
    if (request.kind === 'original') return this.#original(key, conditional);
    const variant = canonicalVariant(request);

    // With the result cache on, every request stats the original first (a stat or HEAD costs far
    // less than a render): a replaced original has a new version and misses, a deleted one answers
    // the store's 404, exactly as without the cache. Revalidation needs the version anyway.
    let version: string | undefined;
    if (conditional.ifNoneMatch || this.#cache) {
      let info: SourceInfo;
      try {
        ({ info } = await this.#stat(key, conditional.signal));
      } catch (err) {
        if (err instanceof ImageError && err.code === 'not_found') this.#cache?.observe(key, undefined);
        throw err;
      }
      version = info.version;
      const etag = computeEtag(info.version, variant);
      if (conditional.ifNoneMatch && ifNoneMatchMatches(conditional.ifNoneMatch, etag)) return notModified(etag, info.lastModified);
      if (this.#cache) {
        this.#cache.observe(key, info.version);
        const hit = await this.#cache.get(key, info.version, variant);
        if (hit) return variantResult(hit, conditional.head);
      }
    }

    // The flight runs until it is done or every request waiting on it has passed its own
    // deadline (see Coalescer): a request that joins late is not failed by an earlier one's deadline.
    // With the cache on, the version is part of it: a request that saw a new version never joins a
    // render of the old one.
    const flightKey = this.#cache ? `${key}\0${variant}\0${version}` : `${key}\0${variant}`;
    let stage = this.#stages.get(flightKey);
    const flight = this.#flights.run(flightKey, conditional.signal, (signal) => {
      const own: FlightStage = { started: false };
      stage = own;
      this.#stages.set(flightKey, own);
      const queuedAt = performance.now();
      return this.#limiter
        .run(signal, (fetched) => this.#render(fetched, request.resize, variant, key), {
          // The original is read while the request waits for its slot (when it is among the first
          // `lookahead` queued): the slot then starts computing at once.
          prepare: () => this.#fetch(key, signal),
          dispose: (fetched) => fetched.release(),
          slotTaken: () => {
            own.started = true;
            own.queuedMs = performance.now() - queuedAt;
          },
        })
        .finally(() => {
          if (this.#stages.get(flightKey) === own) this.#stages.delete(flightKey);
        });
    });
    if (flight.shared) this.#metrics.coalesced.inc();
    let rendered: Rendered;
    try {
      rendered = await flight.result;
    } catch (err) {
      // Only the request's own deadline counts as lost to load: a storage or render bound that
      // ran out is that part's fault (504) however long the request queued first.
      if (!conditional.signal.aborted) throw err;
      // Still queued when the deadline passed: shed (503), as the limiter sheds a full queue. So
      // is a render that ran out of time after a long wait for its slot (QUEUED_SHARE_OF_OVERLOAD).
      if (stage && !stage.started) throw this.#limiter.shed('overloaded: the request waited in the queue past its deadline without starting; retry later', err);
      if (stage && (stage.queuedMs ?? 0) > this.#options.requestTimeoutMs * QUEUED_SHARE_OF_OVERLOAD) {
        throw this.#limiter.shed(`overloaded: the request waited ${Math.round(stage.queuedMs ?? 0)} ms for a slot and ran out of time; retry later`, err);
      }
      if (err instanceof ImageError) throw err;
      throw deadlineError(conditional.signal);
    }
    return variantResult(rendered, conditional.head);
  }

  /**
   * A plain download. Its Content-Type is sniffed from the first bytes, as the directory store and
   * legacy do, never taken from the store: an object stored as text/html must not be served as
   * HTML. Revalidation and HEAD read metadata (and the first bytes) only, never the body.
   */
  async #original(key: string, c: { ifNoneMatch: string | undefined; head: boolean; signal: AbortSignal }): Promise<ImageResult> {
    if (c.ifNoneMatch || c.head) {
      const { info, head } = await this.#stat(key, c.signal, c.head ? SNIFF_BYTES : 0);
      const etag = computeEtag(info.version, 'original');
      if (ifNoneMatchMatches(c.ifNoneMatch, etag)) return notModified(etag, info.lastModified);
      if (c.head) return { status: 200, headers: downloadHeaders(info, etag, head), body: null };
    }
    // The storage deadline covers the open and the first bytes, so a stalled body cannot hold the request.
    const { source, storage } = await this.#open(key, c.signal, true);
    const etag = computeEtag(source.info.version, 'original');
    let peeked: { head: Buffer; body: Readable };
    try {
      peeked = source.localFile ? { head: source.localFile.head, body: source.body } : await peekHead(source.body, SNIFF_BYTES, storage.signal);
    } catch (err) {
      source.discard();
      if (storage.signal.aborted) throw deadlineError(storage.signal);
      throw new ImageError('storage_unavailable', 'storage unavailable: the original could not be read', { cause: err });
    } finally {
      storage.release();
    }
    // The body streams to the client without the storage deadline (#open detached it): a slow
    // client must not get a download cut off after STORAGE_TIMEOUT_MS.
    return { status: 200, headers: downloadHeaders(source.info, etag, peeked.head), body: peeked.body };
  }

  /** An original's metadata (and first bytes) through the store's stat, or an open whose body is discarded. */
  async #stat(key: string, signal: AbortSignal, headBytes = 0): Promise<SourceHead> {
    const storage = storageDeadline(signal, this.#options.storageTimeoutMs);
    try {
      const stat = await this.#statFromStore(key, storage.signal, headBytes);
      // Refused on its stored size, as an open would be: the same answer for HEAD, GET and a 304.
      if (stat.info.size > this.#options.maxInputBytes) throw tooManyBytes(stat.info.size, this.#options.maxInputBytes);
      return stat;
    } catch (err) {
      throw storage.signal.aborted && !(err instanceof ImageError) ? deadlineError(storage.signal) : err;
    } finally {
      storage.release();
    }
  }

  async #statFromStore(key: string, signal: AbortSignal, headBytes: number): Promise<SourceHead> {
    if (this.#store.stat) return this.#store.stat(key, signal, { headBytes });
    const source = await this.#store.open(key, signal);
    if (headBytes === 0) {
      source.discard();
      return { info: source.info, head: Buffer.alloc(0) };
    }
    try {
      return { info: source.info, head: (await peekHead(source.body, headBytes)).head };
    } finally {
      source.discard();
    }
  }

  /**
   * Opens an original and refuses it on its stored size, before a byte of it is read. The storage
   * deadline (the request's deadline or STORAGE_TIMEOUT_MS, whichever comes first) covers the open;
   * pass `keepDeadline` to keep it over the body as well, and call `release()` once it is read.
   */
  async #open(key: string, signal: AbortSignal, keepDeadline = false): Promise<{ source: SourceObject; storage: StorageDeadline }> {
    const storage = storageDeadline(signal, this.#options.storageTimeoutMs);
    let source: SourceObject;
    try {
      source = await this.#store.open(key, storage.signal);
    } catch (err) {
      storage.release();
      throw storage.signal.aborted && !(err instanceof ImageError) ? deadlineError(storage.signal) : err;
    }
    if (!keepDeadline) storage.release();
    if (source.info.size > this.#options.maxInputBytes) {
      storage.release();
      source.discard();
      throw tooManyBytes(source.info.size, this.#options.maxInputBytes);
    }
    return { source, storage };
  }

  /**
   * Reads an original into a pooled buffer (a local file in one positional read, a stream chunk by
   * chunk), under the storage deadline. Runs before the original's slot when it can (Limiter
   * lookahead), so storage latency is not spent holding a core's slot.
   */
  async #fetch(key: string, signal: AbortSignal): Promise<Fetched> {
    const started = performance.now();
    let source: SourceObject;
    let read: { buffer: Buffer; length: number };
    try {
      const opened = await this.#open(key, signal, true);
      source = opened.source;
      try {
        const readInto = source.localFile?.readInto;
        read = readInto
          ? await readLocal(source, readInto, this.#options.maxInputBytes, this.#buffers)
          : await readAll(source, this.#options.maxInputBytes, opened.storage.signal, this.#buffers);
      } finally {
        opened.storage.release();
      }
      this.#metrics.sourceFetch.observe({ outcome: 'ok' }, (performance.now() - started) / 1000);
    } catch (err) {
      this.#metrics.sourceFetch.observe({ outcome: 'error' }, (performance.now() - started) / 1000);
      throw err;
    }
    let released = false;
    const fetched: Fetched = {
      input: read.buffer.subarray(0, read.length),
      info: source.info,
      release: () => {
        if (released) return;
        released = true;
        this.#buffers.release(read.buffer);
      },
    };
    try {
      // Refused as the legacy backend refuses it (source-checks.ts), before it takes a slot.
      await checkComplete(fetched.input, this.#buffers);
    } catch (err) {
      fetched.release();
      throw err;
    }
    return fetched;
  }

  async #render(fetched: Fetched, resize: ResizeRequest, variant: string, key: string): Promise<Rendered> {
    this.#metrics.resizes.inc();
    let image: Awaited<ReturnType<typeof renderImage>>;
    const renderStarted = performance.now();
    try {
      // Sized as the legacy backend sizes it (a GIF by its logical screen: gif-screen.ts).
      image = await renderImage(await onGifScreen(fetched.input, this.#options.maxInputPixels), resize, this.#options);
      // libvips stops a render by whole seconds of processing (and only once it has run a full
      // second past the bound); a render that finished past the bound in milliseconds is still
      // answered as past it, so that the bound means the same for every size.
      const tookMs = performance.now() - renderStarted;
      if (tookMs > this.#options.renderTimeoutMs) {
        throw new ImageError(
          'timeout',
          `timeout: rendering took longer than the render bound (${this.#options.renderTimeoutMs} ms; it took ${Math.round(tookMs)} ms); try a smaller size or a smaller original`,
        );
      }
    } catch (err) {
      throw renderTimeout(err, this.#options.renderTimeoutMs) ?? err;
    } finally {
      // libvips holds no reference to the input once the pipeline has settled, either way.
      fetched.release();
    }
    const rendered: Rendered = {
      body: image.body,
      contentType: image.contentType,
      etag: computeEtag(fetched.info.version, variant),
      lastModified: fetched.info.lastModified,
    };
    // Kept under the version actually rendered (the one this open saw), before the flight settles:
    // a request that arrives once the flight is done finds it.
    this.#cache?.set(key, fetched.info.version, variant, rendered);
    return rendered;
  }
}

interface StorageDeadline {
  signal: AbortSignal;
  /** Stops the timer and detaches from the request's signal. */
  release(): void;
}

/**
 * The deadline of one storage read: the request's own deadline or STORAGE_TIMEOUT_MS, whichever
 * passes first. Unlike AbortSignal.timeout its timer is cleared as soon as the read is done.
 */
function storageDeadline(request: AbortSignal, timeoutMs: number): StorageDeadline {
  const controller = new AbortController();
  if (request.aborted) {
    controller.abort(request.reason);
    return { signal: controller.signal, release: () => {} };
  }
  const onRequestAbort = () => controller.abort(request.reason);
  request.addEventListener('abort', onRequestAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new ImageError('timeout', `timeout: storage did not answer within ${timeoutMs} ms`)), timeoutMs);
  timer.unref();
  return {
    signal: controller.signal,
    release() {
      clearTimeout(timer);
      request.removeEventListener('abort', onRequestAbort);
    },
  };
}

/** The 504 for an aborted signal: its reason when that is already an ImageError, else a generic timeout. */
function deadlineError(signal: AbortSignal): ImageError {
  const reason: unknown = signal.reason;
  if (reason instanceof ImageError) return reason;
  return new ImageError('timeout', 'timeout: the request took longer than its deadline', { cause: reason });
}

/**
 * libvips stops a pipeline past sharp's `timeout` with "timeout: N% complete", which the pipeline
 * reports as an undecodable original; it is the render bound instead: a 504 that says so.
 */
function renderTimeout(err: unknown, timeoutMs: number): ImageError | undefined {
  if (!(err instanceof ImageError) || err.code !== 'unsupported_image') return undefined;
  const cause = err.cause instanceof Error ? err.cause.message : '';
  if (!/^timeout: \d+% complete/.test(cause)) return undefined;
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return new ImageError(
    'timeout',
    `timeout: rendering took longer than the render bound (${seconds} s of processing); try a smaller size or a smaller original`,
    { cause: err.cause },
  );
}

function variantResult(rendered: Rendered, head: boolean): ImageResult {
  return {
    status: 200,
    headers: {
      'Content-Type': rendered.contentType,
      'Content-Length': String(rendered.body.length),
      'Cache-Control': CACHE_CONTROL,
      ETag: rendered.etag,
      'Last-Modified': rendered.lastModified.toUTCString(),
    },
    body: head ? null : rendered.body,
  };
}

function downloadHeaders(info: SourceInfo, etag: string, head: Buffer | undefined): Record<string, string> {
  return {
    'Content-Type': head && head.length > 0 ? contentTypeOf(head) : 'application/octet-stream',
    'Content-Length': String(info.size),
    'Cache-Control': CACHE_CONTROL,
    ETag: etag,
    'Last-Modified': info.lastModified.toUTCString(),
  };
}

function notModified(etag: string, lastModified: Date): ImageResult {
  return {
    status: 304,
    headers: { ETag: etag, 'Cache-Control': CACHE_CONTROL, 'Last-Modified': lastModified.toUTCString() },
    body: null,
  };
}

function tooManyBytes(size: number, max: number): ImageError {
  return new ImageError(
    'image_too_large',
    `image too large: the original is ${(size / 1048576).toFixed(1)} MiB; at most ${(max / 1048576).toFixed(0)} MiB are accepted`,
  );
}

/**
 * Reads a local original (the file the store opened) into a pooled buffer, refusing more than `max`
 * bytes; the file handle is closed either way.
 */
async function readLocal(
  source: SourceObject,
  readInto: (into: Buffer) => Promise<number>,
  max: number,
  pool: BufferPool,
): Promise<{ buffer: Buffer; length: number }> {
  const buffer = pool.acquire(Math.min(Math.max(source.info.size, 0), max));
  try {
    const length = await readInto(buffer.subarray(0, Math.min(Math.max(source.info.size, 0), max)));
    return { buffer, length };
  } catch (err) {
    pool.release(buffer);
    throw new ImageError('storage_unavailable', 'storage unavailable: the original could not be read to the end', { cause: err });
  } finally {
    source.discard();
  }
}

/**
 * Reads an original's stream into a pooled buffer, refusing more than `max` bytes even if the
 * store's size was wrong. The chunks are copied in as they come, so the original is held once,
 * not twice (chunks + concatenation). Returns the buffer (give it back to the pool) and the
 * number of bytes read. A read cut by the storage deadline is a 504; any other failure mid-body
 * is the store's (502).
 */
async function readAll(source: SourceObject, max: number, signal: AbortSignal, pool: BufferPool): Promise<{ buffer: Buffer; length: number }> {
  const body = source.body;
  let buffer = pool.acquire(Math.min(Math.max(source.info.size, 0), max));
  let total = 0;
  const onAbort = () => body.destroy(deadlineError(signal));
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body) {
      const bytes = chunk as Buffer;
      if (total + bytes.length > max) {
        body.destroy();
        throw tooManyBytes(total + bytes.length, max);
      }
      if (total + bytes.length > buffer.length) {
        // The store under-reported the size: grow (rare; S3 and the directory both know it).
        const grown = pool.acquire(Math.min(max, Math.max(buffer.length * 2, total + bytes.length)));
        buffer.copy(grown, 0, 0, total);
        pool.release(buffer);
        buffer = grown;
      }
      bytes.copy(buffer, total);
      total += bytes.length;
    }
    return { buffer, length: total };
  } catch (err) {
    pool.release(buffer);
    if (err instanceof ImageError) throw err;
    if (signal.aborted) throw deadlineError(signal);
    throw new ImageError('storage_unavailable', 'storage unavailable: the original could not be read to the end', { cause: err });
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
