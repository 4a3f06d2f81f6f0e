import { useState } from 'react';
import { currentTheme, toggleTheme } from './theme.js';

export function ThemeToggle() {
  const [theme, setTheme] = useState(currentTheme);
  const next = theme === 'dark' ? 'light' : 'dark';
  return (
    <button type="button" className="icon" aria-label={`Switch to ${next} theme`} title={`Switch to ${next} theme`}
            onClick={() => setTheme(toggleTheme())}>
      {theme === 'dark' ? '☀' : '☾'}
    </button>
  );
}
