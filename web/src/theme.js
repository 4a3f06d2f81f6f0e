// Light/dark: the system's preference until the user picks one (kept in localStorage).
const KEY = 'cloudchat.theme';

export function currentTheme() {
  const saved = localStorage.getItem(KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function initTheme() {
  document.documentElement.dataset.theme = currentTheme();
  window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', () => {
    if (!localStorage.getItem(KEY)) document.documentElement.dataset.theme = currentTheme();
  });
}

export function toggleTheme() {
  const next = currentTheme() === 'dark' ? 'light' : 'dark';
  localStorage.setItem(KEY, next);
  document.documentElement.dataset.theme = next;
  return next;
}
