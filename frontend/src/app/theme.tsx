// Light / dark: follows the system by default (prefers-color-scheme); the toggle stores an
// override in localStorage. index.html applies it before the first paint.
import { useEffect, useState } from 'react';

type Theme = 'system' | 'light' | 'dark';

function apply(t: Theme) {
  const dark = t === 'dark' || (t === 'system' && window.matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.classList.toggle('dark', dark);
}

export function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem('theme') as Theme | null) ?? 'system');
  useEffect(() => {
    apply(theme);
    if (theme === 'system') localStorage.removeItem('theme');
    else localStorage.setItem('theme', theme);
    const mq = window.matchMedia('(prefers-color-scheme: dark)');
    const on = () => apply(theme);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, [theme]);
  const next: Record<Theme, Theme> = { system: 'light', light: 'dark', dark: 'system' };
  const icon = { system: '◐', light: '☀', dark: '☾' }[theme];
  return (
    <button
      type="button"
      onClick={() => setTheme(next[theme])}
      className="rounded-md px-2 py-1 text-sm text-slate-500 hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-indigo-500 dark:text-slate-400 dark:hover:bg-slate-800"
      title={`Theme: ${theme} (click to change)`}
      aria-label={`Theme: ${theme}`}
    >
      {icon}
    </button>
  );
}
