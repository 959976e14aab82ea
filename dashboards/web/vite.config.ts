import { defineConfig } from 'vite';

// The API serves dist/ at `/` under the CSP `default-src 'self'`: everything the page loads must
// be a file of its own (no inline script or style, no data: URL).
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8000', '/health': 'http://127.0.0.1:8000' },
  },
});
