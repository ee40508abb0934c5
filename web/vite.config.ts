// The playground: `npm run web` (dev server) and `npm run build:web` (static files in web/dist).
// COOP/COEP make the page cross-origin isolated, so the training worker can use threads;
// static hosts need the same two headers (README: "The playground").
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  // the library as the package ships it (npm run build makes it): the portable
  // bundles of simdnn, simdnn/search, simdnn/experiments, simdnn/onnx and simdnn/csv (the
  // subpaths import the core's bundle beside them: one copy of the core)
  resolve: {
    alias: [
      { find: /^simdnn$/, replacement: fileURLToPath(new URL('../dist/bundle/index.js', import.meta.url)) },
      { find: /^simdnn\/(search|experiments|onnx|csv)$/, replacement: fileURLToPath(new URL('../dist/bundle/', import.meta.url)) + '$1.js' },
    ],
  },
  server: { headers: isolation, host: '127.0.0.1' },
  preview: { headers: isolation, host: '127.0.0.1' },
  worker: { format: 'es' },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
});
