import { useEffect, useState } from 'react';
import { Q, call } from './api.js';
import { Composer } from './Composer.jsx';
import { MessageItem, PendingItem } from './MessageItem.jsx';

/** A thread: the root, its replies (thread(), then live through onMessage), a composer. */
export function ThreadPanel({ root, replies, pending, itemProps, cid, upsert, onRetry, onSend, onTyping, onClose,
  people = [] }) {
  const [state, setState] = useState('loading');
  const [error, setError] = useState('');

  useEffect(() => {
    let active = true;
    (async () => {
      try {
        let nextToken = null;
        do {
          const data = await call(Q.thread, { conversationId: cid, rootId: root.id, limit: 100, nextToken });
          if (!active) return;
          upsert(data.thread.items);
          nextToken = data.thread.nextToken;
        } while (nextToken);
        setState('ready');
      } catch (err) {
        if (active) {
          setError(err.message);
          setState('error');
        }
      }
    })();
    const onKey = (e) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => {
      active = false;
      window.removeEventListener('keydown', onKey);
    };
  }, [cid, root.id, upsert, onClose]);

  return (
    <aside className="thread-panel" aria-label="Thread">
      <header className="panel-header">
        <h3>Thread</h3>
        <button type="button" className="icon" onClick={onClose} aria-label="Close thread">×</button>
      </header>
      <ol className="message-list thread-list">
        <MessageItem message={root} {...itemProps} inThread />
        {state === 'loading' && <li className="muted">Loading replies…</li>}
        {error && <li className="error" role="alert">{error}</li>}
        {replies.map((m) => <MessageItem key={m.id} message={m} {...itemProps} inThread />)}
        {pending.map((p) => <PendingItem key={p.clientMessageId} entry={p} onRetry={() => onRetry(p)} />)}
      </ol>
      <Composer label="Reply" onSend={onSend} onTyping={onTyping} disabled={state === 'loading'} people={people} />
    </aside>
  );
}
