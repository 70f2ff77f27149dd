/**
 * The hot endpoint's logic, with no HTTP in it: key + request -> image response. Composes storage,
 * the limiter, coalescing and the pipeline; http/app.ts only translates to and from HTTP.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { Coalescer } from './coalesce.ts';
import { computeEtag, ifNoneMatchMatches } from './conditional.ts';
import { ImageError } from './errors.ts';
import type { Limiter } from './limiter.ts';
import type { ServiceMetrics } from './metrics.ts';
import { canonicalVariant, type ImageRequest, type ResizeRequest } from './params.ts';
import { renderImage, type PipelineLimits } from './pipeline.ts';
import type { SourceObject, SourceStore } from './storage/index.ts';

export interface ImageServiceOptions extends PipelineLimits {
  maxInputBytes: number;
  requestTimeoutMs: number;
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

const CACHE_CONTROL = 'public, max-age=31536000';

export class ImageService {
  readonly #store: SourceStore;
  readonly #limiter: Limiter;
  readonly #metrics: ServiceMetrics;
  readonly #options: ImageServiceOptions;
  readonly #flights = new Coalescer<Rendered>();

  constructor(deps: { store: SourceStore; limiter: Limiter; metrics: ServiceMetrics; options: ImageServiceOptions }) {
    this.#store = deps.store;
    this.#limiter = deps.limiter;
    this.#metrics = deps.metrics;
    this.#options = deps.options;
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
    const variant = canonicalVariant(request);
    if (request.kind === 'original') return this.#original(key, conditional);

    if (conditional.ifNoneMatch) {
      // Revalidation needs only the original's version, not a resize.
      const source = await this.#open(key, conditional.signal);
      source.discard();
      const etag = computeEtag(source.info.version, variant);
      if (ifNoneMatchMatches(conditional.ifNoneMatch, etag)) return notModified(etag, source.info.lastModified);
    }

    const flight = this.#flights.run(`${key}\0${variant}`, () => {
      // The flight has the deadline of the request that started it.
      const signal = conditional.signal;
      return this.#limiter.run(signal, () => this.#render(key, request.resize, variant, signal));
    });
    if (flight.shared) this.#metrics.coalesced.inc();
    const rendered = await raceSignal(flight.result, conditional.signal);
    return {
      status: 200,
      headers: {
        'Content-Type': rendered.contentType,
        'Content-Length': String(rendered.body.length),
        'Cache-Control': CACHE_CONTROL,
        ETag: rendered.etag,
        'Last-Modified': rendered.lastModified.toUTCString(),
      },
      body: conditional.head ? null : rendered.body,
    };
  }

  async #original(key: string, c: { ifNoneMatch: string | undefined; head: boolean; signal: AbortSignal }): Promise<ImageResult> {
    // The deadlines bound the open (time to first byte) only: the body then streams at the
    // client's pace, or a 50 MB download to a slow client would be cut after STORAGE_TIMEOUT_MS.
    const source = await this.#open(key, c.signal, { deadlineCoversBody: false });
    const etag = computeEtag(source.info.version, 'original');
    if (ifNoneMatchMatches(c.ifNoneMatch, etag)) {
      source.discard();
      return notModified(etag, source.info.lastModified);
    }
    const headers = {
      'Content-Type': source.info.contentType ?? 'application/octet-stream',
      'Content-Length': String(source.info.size),
      'Cache-Control': CACHE_CONTROL,
      ETag: etag,
      'Last-Modified': source.info.lastModified.toUTCString(),
    };
    if (c.head) {
      source.discard();
      return { status: 200, headers, body: null };
    }
    return { status: 200, headers, body: source.body };
  }

  /**
   * Opens an original and refuses it on its stored size, before a byte of it is read. The storage
   * deadline covers reading the body too, unless `deadlineCoversBody` is false.
   */
  async #open(key: string, signal: AbortSignal, options: { deadlineCoversBody: boolean } = { deadlineCoversBody: true }): Promise<SourceObject> {
    const storageSignal = AbortSignal.any([signal, AbortSignal.timeout(this.#options.storageTimeoutMs)]);
    let openSignal = storageSignal;
    let detach = () => {};
    if (!options.deadlineCoversBody) {
      // A signal that follows the deadline while opening and never fires afterwards.
      const opening = new AbortController();
      const follow = () => opening.abort(storageSignal.reason);
      storageSignal.addEventListener('abort', follow, { once: true });
      detach = () => storageSignal.removeEventListener('abort', follow);
      openSignal = opening.signal;
    }
    let source: SourceObject;
    try {
      source = await this.#store.open(key, openSignal);
    } finally {
      detach();
    }
    if (source.info.size > this.#options.maxInputBytes) {
      source.discard();
      throw tooManyBytes(source.info.size, this.#options.maxInputBytes);
    }
    return source;
  }

  async #render(key: string, resize: ResizeRequest, variant: string, signal: AbortSignal): Promise<Rendered> {
    const started = performance.now();
    let input: Buffer;
    let source: SourceObject;
    // The same deadline #open sets, kept here to tell a stalled body from a broken one.
    const storageDeadline = AbortSignal.any([signal, AbortSignal.timeout(this.#options.storageTimeoutMs)]);
    try {
      source = await this.#open(key, storageDeadline);
      input = await readAll(source.body, this.#options.maxInputBytes);
      this.#metrics.sourceFetch.observe({ outcome: 'ok' }, (performance.now() - started) / 1000);
    } catch (err) {
      this.#metrics.sourceFetch.observe({ outcome: 'error' }, (performance.now() - started) / 1000);
      if (signal.aborted && !(err instanceof ImageError && err.code !== 'storage_unavailable')) {
        throw new ImageError('timeout', 'timeout: storage did not answer within the deadline', { cause: err });
      }
      if (err instanceof ImageError) throw err;
      // The body stream failed after the open: the storage deadline passed mid-body (a stalled
      // server), or the connection broke. Either is the storage's fault, never a 500.
      if (storageDeadline.aborted) throw new ImageError('timeout', 'timeout: storage did not deliver the original within the deadline', { cause: err });
      throw new ImageError('storage_unavailable', 'storage unavailable: reading the original failed', { cause: err });
    }
    this.#metrics.resizes.inc();
    const image = await renderImage(input, resize, this.#options);
    return {
      body: image.body,
      contentType: image.contentType,
      etag: computeEtag(source.info.version, variant),
      lastModified: source.info.lastModified,
    };
  }
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

/** Reads a stream into one buffer, refusing more than `max` bytes even if the store's size was wrong. */
async function readAll(body: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > max) {
      body.destroy();
      throw tooManyBytes(total, max);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/** Waits for a shared promise, but gives up when this request's own deadline passes. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new ImageError('timeout', 'timeout: the request took longer than its deadline'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new ImageError('timeout', 'timeout: the request took longer than its deadline'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
