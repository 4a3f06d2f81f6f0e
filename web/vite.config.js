import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// base './': the same build works at the local stack's /app/ and at any path it is deployed to.
export default defineConfig({
  base: './',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
});
