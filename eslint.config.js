import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import { readdirSync } from 'node:fs'
import importX from 'eslint-plugin-import-x'

// Dependencies point down (see ARCHITECTURE.md): node/ → formats/, scheduler/, mesh/ → store/.
// formats/ and mesh/ never import each other; nothing imports node/; store/ imports nothing above it.
const layers = [
  { target: './store', from: ['./node', './formats', './mesh', './scheduler'], message: 'store/ imports nothing above it' },
  { target: './formats', from: ['./node', './mesh'], message: 'formats/ never imports node/ or mesh/' },
  { target: './mesh', from: ['./node', './formats'], message: 'mesh/ never imports node/ or formats/' },
  { target: './scheduler', from: ['./node', './formats', './mesh'], message: 'scheduler/ knows sources only through its ChunkSource interface' },
]
// A format is one folder: it may use formats/core, never another format (issue 12, the format kit).
const formatDirs = readdirSync('./formats', { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'core').map((d) => d.name)
for (const f of formatDirs) {
  layers.push({
    target: `./formats/${f}`,
    from: formatDirs.filter((o) => o !== f).map((o) => `./formats/${o}`),
    message: 'a format never imports another format; share code through formats/core',
  })
}

const INDEX_ONLY = {
  regex: '^(\\.\\./)+(store|mesh|scheduler|node|formats/[^/]+)/(?!index\\.ts$).+',
  message: 'Import another folder through its index.ts, never a file deep inside it',
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'coverage/**', '.tmp/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: layers }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { patterns: [INDEX_ONLY] }],
    },
  },
  {
    // The mesh's services (sync/, content/, chunks/, profiles/) reach each other through their index.ts too.
    files: ['mesh/*/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [INDEX_ONLY, { regex: '^\\.\\./[a-z-]+/(?!index\\.ts$).+', message: 'Import a sibling mesh service through its index.ts' }],
      }],
    },
  },
  {
    // Tests may reach into a unit they test, and share fixtures across test folders (whose relative
    // paths, e.g. ../../formats/npm/fixtures.ts from test/e2e, look like source folders).
    files: ['test/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
)
