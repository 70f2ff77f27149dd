// ESLint: correctness and dead code. Layout is prettier's job (npm run format), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config({ ignores: ['node_modules/', 'var/', 'bench/out/', 'compare-out/'] }, js.configs.recommended, ...tseslint.configs.recommended, {
  languageOptions: {
    ecmaVersion: 2023,
    sourceType: 'module',
    globals: {
      // Node (the project's TypeScript and scripts) and k6 (loadtest/*.js run inside k6).
      process: 'readonly',
      console: 'readonly',
      Buffer: 'readonly',
      URL: 'readonly',
      URLSearchParams: 'readonly',
      setTimeout: 'readonly',
      clearTimeout: 'readonly',
      setInterval: 'readonly',
      clearInterval: 'readonly',
      setImmediate: 'readonly',
      performance: 'readonly',
      fetch: 'readonly',
      AbortController: 'readonly',
      AbortSignal: 'readonly',
      TextEncoder: 'readonly',
      TextDecoder: 'readonly',
      structuredClone: 'readonly',
      queueMicrotask: 'readonly',
      Response: 'readonly',
      Request: 'readonly',
      Headers: 'readonly',
      __ENV: 'readonly',
      __VU: 'readonly',
      __ITER: 'readonly',
      open: 'readonly',
    },
  },
  rules: {
    // Dead code: an unused variable, import or parameter is an error; a leading _ says "unused on purpose".
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    'no-unused-private-class-members': 'error',
    'no-unreachable': 'error',
    // Non-null assertions are how this code states invariants a reader can check next to them.
    '@typescript-eslint/no-non-null-assertion': 'off',
    // Prettier wraps code at 160 columns but cannot wrap long string/template literals or comments; this catches those.
    'max-len': ['error', { code: 200, ignoreUrls: true }],
  },
});
