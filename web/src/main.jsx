import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Amplify } from 'aws-amplify';
import { amplifyConfig, loadConfig } from './config.js';
import { App } from './App.jsx';
import { initTheme } from './theme.js';
import './styles.css';

initTheme();
const root = createRoot(document.getElementById('root'));

loadConfig()
  .then((config) => {
    Amplify.configure(amplifyConfig(config));
    root.render(
      <StrictMode>
        <App config={config} />
      </StrictMode>,
    );
  })
  .catch((err) => {
    root.render(
      <main className="fatal" role="alert">
        <h1>CloudChat cannot start</h1>
        <p>{String(err?.message ?? err)}</p>
      </main>,
    );
  });
