import { useId, useState } from 'react';
import { M, call } from './api.js';
import { Dialog } from './Dialog.jsx';

const MAX_REASON = 500;

/** Report a message to the moderators with a reason; says so once the server recorded it. */
export function ReportDialog({ cid, message, senderName, onClose }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [done, setDone] = useState(false);
  const id = useId();

  const submit = async (event) => {
    event.preventDefault();
    if (!reason.trim()) return;
    setBusy(true);
    setError('');
    try {
      await call(M.reportMessage, { conversationId: cid, messageId: message.id, reason: reason.trim() });
      setDone(true);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="Report message" onClose={onClose}>
      <blockquote className="quoted">
        <span className="sender">{senderName}</span>: {message.body ?? ''}
      </blockquote>
      {done ? (
        <>
          <p className="info" role="status">Thanks. The moderators will review this message.</p>
          <div className="dialog-actions">
            <button type="button" className="primary" onClick={onClose}>Done</button>
          </div>
        </>
      ) : (
        <form onSubmit={submit} className="dialog-form">
          <label htmlFor={id}>Reason</label>
          <textarea id={id} rows={3} maxLength={MAX_REASON} required value={reason}
                    placeholder="What is wrong with this message?" onChange={(e) => setReason(e.target.value)} />
          {error && <p className="error" role="alert">{error}</p>}
          <div className="dialog-actions">
            <button type="button" onClick={onClose}>Cancel</button>
            <button type="submit" className="primary" disabled={busy || !reason.trim()}>Report</button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
