/**
 * Environment the Node runtime and glibc read when the service's process starts (not the service:
 * they cannot be changed from inside it), as chosen by measurement (README, "Tuning"). Whatever
 * starts the service applies these unless the caller set them: image-service/package.json's
 * `start` script (in shell, the same values), stack/services.ts, the benchmarks.
 */
export const RUNTIME_ENV = {
  /** libuv's worker pool: CONCURRENCY sharp pipelines plus file reads. libuv's own default, made explicit. */
  UV_THREADPOOL_SIZE: '4',
  /** glibc would create up to 8 arenas per core for libvips' threads, each keeping freed memory. */
  MALLOC_ARENA_MAX: '2',
  /**
   * A fixed 1 MiB mmap threshold: large pixel buffers go back to the kernel when freed, instead of
   * glibc's dynamic threshold growing to 32 MiB and keeping them in the heap (peak RSS -40..-60 MB).
   */
  MALLOC_MMAP_THRESHOLD_: '1048576',
} as const;

/**
 * Node/V8 flags for the service's command line (before `--import tsx`). A 1 MiB young generation
 * instead of V8's 16 MiB: the service makes little short-lived JS garbage (pixels live outside the
 * JS heap), and the larger one only held ~25 MB more resident at saturation, at no measurable gain.
 */
export const MAX_SEMI_SPACE_MB = 1;
export const NODE_FLAGS = [`--max-semi-space-size=${MAX_SEMI_SPACE_MB}`] as const;
