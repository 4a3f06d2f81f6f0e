import { useEffect, useId, useState } from 'react';
import { Q, call } from './api.js';

/** Searches the user directory (users(query:)) and toggles a selection. */
export function UserPicker({ me, learnNames, selected, onToggle, exclude = [], label = 'Find people', autoFocus = false }) {
  const [query, setQuery] = useState('');
  const [results, setResults] = useState([]);
  const [error, setError] = useState('');
  const id = useId();

  useEffect(() => {
    let active = true;
    const timer = setTimeout(async () => {
      try {
        const data = await call(Q.users, { query: query.trim() || null, limit: 20 });
        if (!active) return;
        learnNames(data.users.items);
        setResults(data.users.items.filter((u) => u.id !== me.id && !exclude.includes(u.id)));
        setError('');
      } catch (err) {
        if (active) setError(err.message);
      }
    }, 200);
    return () => {
      active = false;
      clearTimeout(timer);
    };
    // exclude is a fresh array on each render of the parent; its content is what matters
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [query, me.id, learnNames, exclude.join(',')]);

  return (
    <div className="user-picker">
      <label htmlFor={id}>{label}</label>
      <input id={id} type="search" value={query} placeholder="Name or email" autoComplete="off" autoFocus={autoFocus}
             onChange={(e) => setQuery(e.target.value)} />
      {error && <p className="error" role="alert">{error}</p>}
      <ul className="user-results" aria-label="Directory results">
        {results.map((u) => (
          <li key={u.id}>
            <label className="checkbox">
              <input type="checkbox" checked={selected.includes(u.id)} onChange={() => onToggle(u)} />
              {u.displayName}
            </label>
          </li>
        ))}
        {results.length === 0 && <li className="muted">Nobody found.</li>}
      </ul>
    </div>
  );
}
