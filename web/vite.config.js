import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// base './': the same build works at the local stack's /app/ and at any path it is deployed to.
// server.fs.allow: src/api.js imports ../clients/cloudchat_client/operations.graphql (the one
// documents file the Python client shares), outside web/.
export default defineConfig({
  base: './',
  plugins: [react()],
  server: { fs: { allow: ['..'] } },
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
});
