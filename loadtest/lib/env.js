/**
 * PURE: reading the scripts' settings from k6's __ENV (passed in, so that Node tests can call these
 * too). Every error names the variable and what was expected; k6 prints it and exits before any
 * request is sent.
 */

/** @param {Record<string, string | undefined>} env @param {string} name @param {string} fallback */
export function text(env, name, fallback) {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

/**
 * A number within [min, max]; `fallback` when unset.
 * @param {Record<string, string | undefined>} env @param {string} name @param {number} fallback
 * @param {{ min?: number, max?: number, integer?: boolean }} [range]
 */
export function number(env, name, fallback, range = {}) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  const min = range.min ?? -Infinity;
  const max = range.max ?? Infinity;
  if (!Number.isFinite(v) || v < min || v > max || (range.integer && !Number.isInteger(v))) {
    const kind = range.integer ? 'an integer' : 'a number';
    throw new Error(`${name}: expected ${kind}${Number.isFinite(min) ? ` from ${min}` : ''}${Number.isFinite(max) ? ` to ${max}` : ''}, got '${raw}'`);
  }
  return v;
}

/**
 * A duration in seconds: `30`, `30s`, `2m`, `1500ms`. k6's own duration strings, limited to what
 * a bounded run needs.
 * @param {Record<string, string | undefined>} env @param {string} name @param {number} fallbackSeconds
 */
export function seconds(env, name, fallbackSeconds) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackSeconds;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)?\s*$/.exec(raw);
  if (!m) throw new Error(`${name}: expected a duration such as 30s, 2m or 1500ms, got '${raw}'`);
  const v = Number(m[1]);
  const s = m[2] === 'ms' ? v / 1000 : m[2] === 'm' ? v * 60 : v;
  if (s <= 0 || s > 3600) throw new Error(`${name}: expected a duration above 0 and at most 1h, got '${raw}'`);
  return s;
}

/** @param {Record<string, string | undefined>} env @param {string} name @param {boolean} fallback */
export function flag(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new Error(`${name}: expected 'true' or 'false', got '${raw}'`);
}

const LOOPBACK = /^(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost|\[::1\])$/;

/**
 * A base URL such as http://127.0.0.1:8081, without a trailing slash. Only loopback hosts unless
 * ALLOW_REMOTE=true: these scripts generate real load, and a typo in a URL should not aim it at a
 * shared server.
 * @param {Record<string, string | undefined>} env @param {string} name
 */
export function baseUrl(env, name) {
  const raw = env[name];
  if (raw === undefined || raw === '') throw new Error(`${name}: expected a base URL such as http://127.0.0.1:8081 (pass it with -e ${name}=...)`);
  const m = /^(https?):\/\/([^/:]+|\[[^\]]+\])(:[0-9]+)?\/?$/.exec(raw.trim());
  if (!m) throw new Error(`${name}: expected a base URL such as http://127.0.0.1:8081 (scheme, host and port only), got '${raw}'`);
  if (!LOOPBACK.test(m[2]) && !flag(env, 'ALLOW_REMOTE', false)) {
    throw new Error(`${name}: expected a loopback host (127.0.0.1, localhost), got '${m[2]}'; set ALLOW_REMOTE=true to load-test another host on purpose`);
  }
  return `${m[1]}://${m[2]}${m[3] ?? ''}`;
}

/**
 * An output or input path; relative ones are taken from the directory k6 was started in (k6 would
 * otherwise resolve them against the script's directory).
 * @param {string} p @param {string | undefined} cwd
 */
export function resolvePath(p, cwd) {
  if (p.startsWith('/') || !cwd) return p;
  return `${cwd.replace(/\/+$/, '')}/${p.replace(/^\.\//, '')}`;
}
