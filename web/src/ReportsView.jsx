import { useCallback, useEffect, useRef, useState } from 'react';
import { M, Q, call } from './api.js';
import { previewOf, timeOf } from './format.js';

const PAGE = 10;

const keyOf = (r) => `${r.conversationId}/${r.messageId}/${r.reporterId}`;

function ReportedMessage({ message, nameOf }) {
  if (!message) return <p className="muted" data-testid="reported-body">The message no longer exists.</p>;
  const deleted = Boolean(message.deletedAt);
  return (
    <blockquote className="quoted reported-message">
      <span className="sender" data-testid="reported-sender">{nameOf(message.senderId)}</span>
      {' · '}<time dateTime={message.createdAt}>{timeOf(message.createdAt)}</time>
      {deleted ? (
        <p className="body deleted" data-testid="reported-body">This message was deleted</p>
      ) : (
        <p className="body" data-testid="reported-body">{message.body ?? previewOf(message)}</p>
      )}
    </blockquote>
  );
}

function ReportItem({ report: r, nameOf, onDeleted }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const m = r.message;
  const canDelete = Boolean(m) && !m.deletedAt;

  const remove = async () => {
    setConfirming(false);
    setBusy(true);
    setError('');
    try {
      const data = await call(M.deleteMessage, { conversationId: r.conversationId, messageId: r.messageId });
      onDeleted(r.messageId, data.deleteMessage);
    } catch (err) {
      setError(`Could not delete the message: ${err.message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <li className="report" data-testid="report" tabIndex={-1}>
      <div className="meta">
        <span>Reported by <span className="sender" data-testid="reporter">{nameOf(r.reporterId)}</span></span>
        <time dateTime={r.createdAt} data-testid="report-time">{timeOf(r.createdAt)}</time>
      </div>
      <p className="report-line">
        Conversation <code data-testid="report-conversation">{r.conversationId}</code>
      </p>
      <p className="report-line">
        Reason: <span className="report-reason" data-testid="report-reason">{r.reason}</span>
      </p>
      <ReportedMessage message={m} nameOf={nameOf} />
      {error && <p className="error" role="alert">{error}</p>}
      {canDelete && !confirming && (
        <div className="report-actions">
          <button type="button" className="danger" onClick={() => setConfirming(true)} disabled={busy}
                  aria-label={`Delete message from ${nameOf(m.senderId)}`}>
            {busy ? 'Deleting…' : 'Delete message'}</button>
        </div>
      )}
      {canDelete && confirming && (
        <div className="report-actions confirm" role="group" aria-label="Confirm delete">
          Delete this message for everyone?{' '}
          <button type="button" className="danger" onClick={remove}>Yes, delete</button>
          <button type="button" onClick={() => setConfirming(false)} autoFocus>No</button>
        </div>
      )}
    </li>
  );
}

/**
 * The moderators' review screen: `reportedMessages` (the admin and moderator groups only),
 * newest first, a page at a time; a reported message can be deleted (global moderators may
 * delete any message).
 */
export function ReportsView({ nameOf, onClose }) {
  const [reports, setReports] = useState([]);
  const [nextToken, setNextToken] = useState(null);
  const [phase, setPhase] = useState('loading'); // loading | ready | error
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState('');
  const heading = useRef(null);
  const list = useRef(null);
  const [focusAt, setFocusAt] = useState(null); // after Load more: the first new report

  const load = useCallback(async (token) => {
    const data = await call(Q.reportedMessages, { limit: PAGE, nextToken: token });
    const page = data.reportedMessages;
    setReports((list) => {
      const seen = new Set(list.map(keyOf));
      return [...list, ...page.items.filter((r) => !seen.has(keyOf(r)))];
    });
    setNextToken(page.nextToken ?? null);
  }, []);

  useEffect(() => {
    heading.current?.focus();
    let active = true;
    load(null)
      .then(() => active && setPhase('ready'))
      .catch((err) => {
        if (!active) return;
        setPhase('error');
        setError(`Could not load the reports: ${err.message}`);
      });
    return () => {
      active = false;
    };
  }, [load]);

  useEffect(() => {
    const onKey = (e) => {
      if (e.key === 'Escape' && !e.defaultPrevented) onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);

  useEffect(() => {
    if (focusAt == null) return;
    list.current?.children[focusAt]?.focus();
    setFocusAt(null);
  }, [focusAt, reports]);

  const loadMore = async () => {
    setLoadingMore(true);
    setError('');
    try {
      const before = reports.length;
      await load(nextToken);
      setFocusAt(before);
    } catch (err) {
      setError(`Could not load more reports: ${err.message}`);
    } finally {
      setLoadingMore(false);
    }
  };

  const onDeleted = useCallback((messageId, message) => {
    setReports((list) => list.map((r) => (r.messageId === messageId ? { ...r, message } : r)));
  }, []);

  return (
    <section className="reports" aria-labelledby="reports-title" role="region">
      <header className="conversation-header">
        <h2 id="reports-title" ref={heading} tabIndex={-1}>Reported messages</h2>
        <span className="muted header-info">Newest first</span>
        <button type="button" className="icon" onClick={onClose} aria-label="Close reports" title="Close reports">×</button>
      </header>
      {error && <p className="error reports-error" role="alert">{error}</p>}
      <div className="reports-body">
        {phase === 'loading' && <p className="muted" aria-busy="true">Loading reports…</p>}
        {phase === 'ready' && reports.length === 0 && <p className="muted">No reported messages.</p>}
        <ol className="report-list" aria-label="Reports" ref={list}>
          {reports.map((r) => <ReportItem key={keyOf(r)} report={r} nameOf={nameOf} onDeleted={onDeleted} />)}
        </ol>
        {nextToken && (
          <button type="button" className="load-more" onClick={loadMore} disabled={loadingMore}>
            {loadingMore ? 'Loading…' : 'Load more'}
          </button>
        )}
      </div>
    </section>
  );
}
