import { useEffect, useRef, useState } from 'react';
import { Q, call } from './api.js';
import { timeOf } from './format.js';

const PAGE = 20;

/** A body with its matched spans marked: the API counts code points, so split with Array.from. */
export function Highlighted({ body, matches }) {
  const chars = Array.from(body ?? '');
  const parts = [];
  let at = 0;
  for (const { start, end } of matches ?? []) {
    if (start > at) parts.push(chars.slice(at, start).join(''));
    parts.push(<mark key={start}>{chars.slice(start, end).join('')}</mark>);
    at = end;
  }
  if (at < chars.length) parts.push(chars.slice(at).join(''));
  return <>{parts}</>;
}

/**
 * Encrypted search (searchMessages): every word must match, words of 3+ letters as prefixes.
 * In the open conversation or in all of yours (your 20 most recently active). A result opens its
 * conversation at the message (`onJump`). A page may be short while more follow: "More results".
 */
export function SearchPanel({ activeId, titleOf, nameOf, learnNames, onJump }) {
  const [query, setQuery] = useState('');
  const [scope, setScope] = useState('all'); // all | here
  const [results, setResults] = useState(null); // {query, items, nextToken} once searched
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const asked = useRef(0);
  const here = scope === 'here' && activeId ? activeId : null;

  useEffect(() => { if (!activeId && scope === 'here') setScope('all'); }, [activeId, scope]);

  const run = async (more) => {
    const q = query.trim();
    if (!q) return;
    const ticket = (asked.current += 1);
    setBusy(true);
    setError('');
    try {
      const data = await call(Q.searchMessages, {
        query: q, conversationId: here, limit: PAGE, nextToken: more ? results.nextToken : null,
      });
      if (ticket !== asked.current) return;
      const page = data.searchMessages;
      learnNames?.(page.items.map((m) => m.senderId));
      setResults((prev) => ({
        query: q, items: more && prev ? [...prev.items, ...page.items] : page.items, nextToken: page.nextToken,
      }));
    } catch (err) {
      if (ticket === asked.current) setError(err.errorType === 'BadRequest' ? err.message : `Search failed: ${err.message}`);
    } finally {
      if (ticket === asked.current) setBusy(false);
    }
  };

  const clear = () => {
    asked.current += 1;
    setQuery('');
    setResults(null);
    setError('');
    setBusy(false);
  };

  return (
    <section className="search-panel" aria-label="Search messages">
      <form role="search" onSubmit={(e) => { e.preventDefault(); run(false); }}>
        <label className="sr-only" htmlFor="search-query">Search messages</label>
        <input id="search-query" type="search" value={query} placeholder="Search messages…" maxLength={256}
               onChange={(e) => setQuery(e.target.value)}
               onKeyDown={(e) => { if (e.key === 'Escape') clear(); }} />
        <select aria-label="Search in" value={here ? 'here' : 'all'} onChange={(e) => setScope(e.target.value)}>
          <option value="all">All conversations</option>
          <option value="here" disabled={!activeId}>This conversation</option>
        </select>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
      {busy && !results && <p className="muted">Searching…</p>}
      {results && (
        <div className="search-results" data-testid="search-results">
          <p className="muted" role="status">
            {results.items.length === 0 && !results.nextToken ? `No messages match “${results.query}”.`
              : `${results.items.length}${results.nextToken ? '+' : ''} result(s) for “${results.query}”`}
            {' '}<button type="button" className="link" onClick={clear}>Clear</button>
          </p>
          <ol>
            {results.items.map((m) => (
              <li key={m.id}>
                <button type="button" className="search-hit" data-testid="search-hit" onClick={() => onJump(m)}>
                  <span className="meta">
                    <span className="sender">{nameOf(m.senderId)}</span> in {titleOf(m.conversationId)}
                    {' · '}<time dateTime={m.createdAt}>{timeOf(m.createdAt)}</time>
                  </span>
                  <span className="body"><Highlighted body={m.body} matches={m.matches} /></span>
                </button>
              </li>
            ))}
          </ol>
          {results.nextToken && (
            <button type="button" className="link" onClick={() => run(true)} disabled={busy}>
              {busy ? 'Searching…' : 'More results'}
            </button>
          )}
        </div>
      )}
    </section>
  );
}
