// `npm run lint`: neostandard (the Standard style, for TypeScript too) plus typescript-eslint's
// type-aware rules, which catch what the compiler lets through: promises left floating or passed
// where a callback's result is ignored, awaits of non-promises, `any` leaking into typed code.
// @see https://github.com/neostandard/neostandard and https://typescript-eslint.io/getting-started/typed-linting
import neostandard from 'neostandard'
import tseslint from 'typescript-eslint'

export default [
  { ignores: ['dist/**', 'openapi/**', 'coverage/**', '.data/**', 'scratch/**'] },
  ...neostandard({ ts: true }),
  ...tseslint.configs.recommendedTypeChecked.map((config) => ({ ...config, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname + '/..' } },
    rules: {
      // Fastify hooks and handlers are async to use the promise API instead of `done`, awaiting or not.
      '@typescript-eslint/require-await': 'off',
      // `void promise` is how no-floating-promises is told a promise is left to run on purpose.
      'no-void': ['error', { allowAsStatement: true }]
    }
  },
  {
    // Responses in tests are parsed JSON (light-my-request's and fetch's `json()` are `any`); the
    // assertions are the type check there.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off'
    }
  }
]
