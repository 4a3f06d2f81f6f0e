import { useState } from 'react';
import { M } from './api.js';
import { EditHistoryDialog } from './EditHistoryDialog.jsx';
import { ReportDialog } from './ReportDialog.jsx';
import { sizeOf, timeOf } from './format.js';

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢'];

function Attachments({ attachments }) {
  if (!attachments?.length) return null;
  return (
    <ul className="attachments" aria-label="Attachments">
      {attachments.map((a) => (
        <li key={a.id}>
          {a.contentType.startsWith('image/') ? (
            <a href={a.url} target="_blank" rel="noreferrer" aria-label={`Open image ${a.name}`}>
              <img src={a.url} alt={a.name} loading="lazy" className="attachment-image" />
            </a>
          ) : (
            <a href={a.url} target="_blank" rel="noreferrer" download={a.name}>📎 {a.name} ({sizeOf(a.size)})</a>
          )}
        </li>
      ))}
    </ul>
  );
}

export function MessageItem({ message: m, me, myRole, nameOf, cid, act, onOpenThread, seenBy, inThread = false, blocks }) {
  const [shown, setShown] = useState(false); // a blocked sender's message, opened on request
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState('');
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [picking, setPicking] = useState(false);
  const [dialog, setDialog] = useState(null); // null | 'report' | 'history'
  const mine = m.senderId === me.id;
  const sender = nameOf(m.senderId);

  if (m.kind === 'SYSTEM') {
    return <li className="message system" data-testid="message" data-seq={m.seq}><span>{m.body}</span></li>;
  }
  if (!mine && !shown && (blocks ? blocks.hides(m) : m.senderBlocked)) {
    return (
      <li className="message blocked" data-testid="message" data-seq={m.seq}>
        <span className="muted" data-testid="blocked-message">Message from a blocked user</span>
        {' — '}
        <button type="button" className="link" onClick={() => setShown(true)}
                aria-label={`Show the message from ${sender}`}>show</button>
      </li>
    );
  }
  const deleted = Boolean(m.deletedAt);
  const mentionsMe = !deleted && (m.mentions ?? []).includes(me.id);
  const canDelete = !deleted && (mine || myRole === 'OWNER' || myRole === 'ADMIN');
  const canEdit = !deleted && mine && m.body != null;
  const canReport = !deleted && !mine;
  const canSeeHistory = !deleted && Boolean(m.editedAt) && (mine || myRole === 'OWNER' || myRole === 'ADMIN');

  const toggleReaction = (emoji) => {
    const existing = m.reactions.find((r) => r.emoji === emoji);
    const reacted = existing?.userIds.includes(me.id);
    setPicking(false);
    act(reacted ? M.removeReaction : M.addReaction, { conversationId: cid, messageId: m.id, emoji });
  };

  const saveEdit = async (event) => {
    event.preventDefault();
    const body = draft.trim();
    if (!body || body === m.body) {
      setEditing(false);
      return;
    }
    if (await act(M.editMessage, { input: { conversationId: cid, messageId: m.id, body, expectedVersion: m.version } })) {
      setEditing(false);
    }
  };

  return (
    <li className={`message ${mine ? 'mine' : ''} ${mentionsMe ? 'mentions-me' : ''}`} data-testid="message"
        data-seq={m.seq} data-mentions-me={mentionsMe ? 'true' : undefined}
        aria-label={`${sender}, ${timeOf(m.createdAt)}${mentionsMe ? ', mentions you' : ''}`}>
      <div className="bubble">
        <div className="meta">
          <span className="sender">{sender}</span>
          <time dateTime={m.createdAt}>{timeOf(m.createdAt)}</time>
          {m.editedAt && !deleted && (canSeeHistory ? (
            <button type="button" className="link edited" onClick={() => setDialog('history')}
                    aria-label="Edited, show edit history" title="Show the edit history">(edited)</button>
          ) : <span className="muted"> (edited)</span>)}
        </div>
        {editing ? (
          <form onSubmit={saveEdit} className="edit-form">
            <label className="sr-only" htmlFor={`edit-${m.id}`}>Edit message</label>
            <textarea id={`edit-${m.id}`} value={draft} onChange={(e) => setDraft(e.target.value)} autoFocus
                      onKeyDown={(e) => {
                        if (e.key === 'Escape') setEditing(false);
                        if (e.key === 'Enter' && !e.shiftKey) saveEdit(e);
                      }} />
            <button type="submit" className="primary">Save</button>
            <button type="button" onClick={() => setEditing(false)}>Cancel</button>
          </form>
        ) : deleted ? (
          <p className="body deleted" data-testid="message-body">
            {m.erased ? 'Erased with its author’s account' : 'This message was deleted'}
          </p>
        ) : (
          m.body && <p className="body" data-testid="message-body">{withMentions(m, me, nameOf)}</p>
        )}
        {!deleted && <Attachments attachments={m.attachments} />}
        {m.reactions.length > 0 && (
          <div className="reactions" aria-label="Reactions">
            {m.reactions.map((r) => (
              <button key={r.emoji} type="button"
                      className={`reaction ${r.userIds.includes(me.id) ? 'reacted' : ''}`}
                      aria-pressed={r.userIds.includes(me.id)}
                      aria-label={`${r.emoji} ${r.count}: ${r.userIds.map(nameOf).join(', ')}`}
                      title={r.userIds.map(nameOf).join(', ')}
                      data-testid="reaction"
                      onClick={() => toggleReaction(r.emoji)} disabled={deleted}>
                {r.emoji} {r.count}
              </button>
            ))}
          </div>
        )}
        {!inThread && m.replyCount > 0 && (
          <button type="button" className="link replies" onClick={() => onOpenThread(m.id)}>
            {m.replyCount} {m.replyCount === 1 ? 'reply' : 'replies'}
          </button>
        )}
        {!deleted && !editing && (
          <div className="actions">
            <button type="button" className="icon" aria-label="Add reaction" aria-expanded={picking}
                    onClick={() => setPicking((v) => !v)}>☺</button>
            {!inThread && (
              <button type="button" className="icon" aria-label="Reply in thread" onClick={() => onOpenThread(m.id)}>↩</button>
            )}
            {canEdit && (
              <button type="button" className="icon" aria-label="Edit message"
                      onClick={() => { setDraft(m.body ?? ''); setEditing(true); }}>✎</button>
            )}
            {canReport && (
              <button type="button" className="icon" aria-label="Report message" onClick={() => setDialog('report')}>⚑</button>
            )}
            {canDelete && !confirmDelete && (
              <button type="button" className="icon" aria-label="Delete message" onClick={() => setConfirmDelete(true)}>🗑</button>
            )}
            {confirmDelete && (
              <span className="confirm" role="group" aria-label="Confirm delete">
                Delete?{' '}
                <button type="button" onClick={() => { setConfirmDelete(false); act(M.deleteMessage, { conversationId: cid, messageId: m.id }); }}>Yes</button>
                <button type="button" onClick={() => setConfirmDelete(false)}>No</button>
              </span>
            )}
          </div>
        )}
        {picking && (
          <div className="picker" role="group" aria-label="Pick a reaction">
            {QUICK_REACTIONS.map((emoji) => (
              <button key={emoji} type="button" className="icon" aria-label={`React with ${emoji}`}
                      onClick={() => toggleReaction(emoji)}>{emoji}</button>
            ))}
          </div>
        )}
      </div>
      {seenBy && <p className="seen" data-testid="seen-by">Seen by {seenBy.join(', ')}</p>}
      {dialog === 'report' && (
        <ReportDialog cid={cid} message={m} senderName={sender} onClose={() => setDialog(null)} />
      )}
      {dialog === 'history' && <EditHistoryDialog cid={cid} message={m} onClose={() => setDialog(null)} />}
    </li>
  );
}

export function PendingItem({ entry, onRetry }) {
  return (
    <li className="message mine pending" data-testid="pending-message" aria-busy={entry.status === 'sending'}>
      <div className="bubble">
        {entry.body && <p className="body">{entry.body}</p>}
        {entry.fileNames.map((name, i) => (
          <div key={name + i} className="upload">
            📎 {name}
            <progress max="1" value={entry.progress[i] ?? 0} aria-label={`Uploading ${name}`} />
          </div>
        ))}
        {entry.status === 'sending' ? (
          <span className="muted">Sending…</span>
        ) : (
          <span className="error" role="alert">
            Not sent: {entry.error}{' '}
            <button type="button" onClick={onRetry}>Retry</button>
          </span>
        )}
      </div>
    </li>
  );
}

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The body with each `@Name` of a mentioned member highlighted (yours more so). */
function withMentions(m, me, nameOf) {
  const byName = new Map((m.mentions ?? []).map((u) => [`@${nameOf(u)}`, u]));
  if (!byName.size) return m.body;
  const pattern = new RegExp(`(${[...byName.keys()].sort((a, b) => b.length - a.length).map(escape).join('|')})`, 'g');
  return m.body.split(pattern).map((part, i) => (byName.has(part) ? (
    <span key={i} className={`mention ${byName.get(part) === me.id ? 'mention-me' : ''}`} data-testid="mention">{part}</span>
  ) : part));
}
