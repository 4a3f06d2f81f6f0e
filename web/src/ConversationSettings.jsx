import { useId, useState } from 'react';
import { M, call } from './api.js';
import { Dialog } from './Dialog.jsx';
import { timeOf } from './format.js';

const MUTE_CHOICES = [
  { value: '1h', label: '1 hour', ms: 3600_000 },
  { value: '8h', label: '8 hours', ms: 8 * 3600_000 },
  { value: '24h', label: '24 hours', ms: 24 * 3600_000 },
  { value: '7d', label: '1 week', ms: 7 * 24 * 3600_000 },
];

/**
 * A conversation's settings: rename (GROUP; owners and admins), mute / unmute notifications,
 * leave (GROUP), delete for everyone (a GROUP's owners; either member of a DIRECT), after a
 * confirm dialog. Each change is the server's answer, never assumed.
 */
export function ConversationSettings({ conversation, title, myRole, mutedUntil, onRenamed, onMuted, onLeft, onDeleted, onClose }) {
  const group = conversation.kind === 'GROUP';
  const canRename = group && (myRole === 'OWNER' || myRole === 'ADMIN');
  const [name, setName] = useState(conversation.title ?? '');
  const [muteFor, setMuteFor] = useState('8h');
  const [confirmLeave, setConfirmLeave] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const canDelete = group ? myRole === 'OWNER' : true;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');
  const nameId = useId();
  const muteId = useId();
  const muted = Boolean(mutedUntil && Date.parse(mutedUntil) > Date.now());

  const run = async (work, done) => {
    setBusy(true);
    setError('');
    setStatus('');
    try {
      await work();
      if (done) setStatus(done);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };

  const rename = (event) => {
    event.preventDefault();
    const wanted = name.trim();
    if (!wanted || wanted === conversation.title) return;
    run(async () => {
      const data = await call(M.renameConversation, { conversationId: conversation.id, title: wanted });
      onRenamed(data.renameConversation);
    }, 'Renamed.');
  };

  const mute = (until) => run(async () => {
    const data = await call(M.muteConversation, { conversationId: conversation.id, until });
    onMuted(conversation.id, data.muteConversation.mutedUntil);
  }, until ? 'Muted.' : 'Notifications are on.');

  const leave = () => run(async () => {
    const data = await call(M.leaveConversation, { conversationId: conversation.id });
    onLeft(data.leaveConversation);
  });

  const remove = () => run(async () => {
    const data = await call(M.deleteConversation, { conversationId: conversation.id });
    setConfirmDelete(false);
    onDeleted(data.deleteConversation);
  });

  return (
    <Dialog title="Conversation settings" onClose={onClose} className="settings">
      <p className="muted">{title}</p>
      {canRename && (
        <form className="settings-row" onSubmit={rename}>
          <label htmlFor={nameId}>Group name</label>
          <div className="inline">
            <input id={nameId} value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
            <button type="submit" className="primary" disabled={busy || !name.trim() || name.trim() === conversation.title}>
              Rename
            </button>
          </div>
        </form>
      )}
      <section className="settings-row" aria-label="Notifications">
        <h3>Notifications</h3>
        {muted ? (
          <div className="inline">
            <span data-testid="muted-until">Muted until {timeOf(mutedUntil)}</span>
            <button type="button" disabled={busy} onClick={() => mute(null)}>Unmute</button>
          </div>
        ) : (
          <div className="inline">
            <label htmlFor={muteId}>Mute for</label>
            <select id={muteId} value={muteFor} onChange={(e) => setMuteFor(e.target.value)}>
              {MUTE_CHOICES.map((c) => <option key={c.value} value={c.value}>{c.label}</option>)}
            </select>
            <button type="button" disabled={busy} onClick={() => {
              const choice = MUTE_CHOICES.find((c) => c.value === muteFor);
              mute(new Date(Date.now() + choice.ms).toISOString());
            }}>Mute</button>
          </div>
        )}
      </section>
      {group && (
        <section className="settings-row" aria-label="Leave">
          {confirmLeave ? (
            <span className="confirm" role="group" aria-label="Confirm leave">
              Leave {title}? You will no longer see new messages.{' '}
              <button type="button" className="danger" disabled={busy} onClick={leave}>Yes, leave</button>
              <button type="button" onClick={() => setConfirmLeave(false)}>No</button>
            </span>
          ) : (
            <button type="button" className="danger" onClick={() => setConfirmLeave(true)}>Leave conversation</button>
          )}
        </section>
      )}
      {canDelete && (
        <section className="settings-row" aria-label="Delete">
          <button type="button" className="danger" onClick={() => setConfirmDelete(true)}>Delete conversation</button>
        </section>
      )}
      {confirmDelete && (
        <Dialog title="Delete conversation?" onClose={() => setConfirmDelete(false)} className="confirm-delete">
          <p>
            Delete {title} for {group ? 'every member' : 'both of you'}? Its messages and files become
            unreadable at once. This cannot be undone.
          </p>
          {error && <p className="error" role="alert">{error}</p>}
          <div className="inline">
            <button type="button" onClick={() => setConfirmDelete(false)}>Cancel</button>
            <button type="button" className="danger" disabled={busy} onClick={remove}>Delete for everyone</button>
          </div>
        </Dialog>
      )}
      {status && <p className="info" role="status">{status}</p>}
      {error && !confirmDelete && <p className="error" role="alert">{error}</p>}
    </Dialog>
  );
}
