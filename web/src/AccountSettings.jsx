import { useId, useState } from 'react';
import { M, call } from './api.js';
import { Dialog } from './Dialog.jsx';

/**
 * The signed-in user's settings: delete the account (deleteAccount), after a confirmation,
 * optionally erasing every message sent. The API deletes the Cognito user at once, so the
 * session ends: onDeleted signs out.
 */
export function AccountSettings({ me, onDeleted, onClose }) {
  const [confirming, setConfirming] = useState(false);
  const [erase, setErase] = useState(false);
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const eraseId = useId();
  const typedId = useId();
  const word = 'DELETE';

  const remove = async (event) => {
    event.preventDefault();
    if (typed.trim() !== word) return;
    setBusy(true);
    setError('');
    try {
      await call(M.deleteAccount, { eraseMessages: erase });
      onDeleted();
    } catch (err) {
      setError(err.message);
      setBusy(false);
    }
  };

  return (
    <Dialog title="Settings" onClose={onClose} className="settings">
      <p className="muted">Signed in as {me?.displayName ?? '…'}</p>
      <section className="settings-row" aria-label="Delete account">
        <h3>Delete account</h3>
        {!confirming ? (
          <button type="button" className="danger" onClick={() => setConfirming(true)}>Delete account…</button>
        ) : (
          <form className="confirm-delete" onSubmit={remove} aria-label="Confirm account deletion">
            <p>
              This deletes your account for good: you leave every conversation, your profile and devices go,
              and you are signed out. Others see your messages from “Deleted user”, unless you erase them.
            </p>
            <label htmlFor={eraseId} className="inline">
              <input id={eraseId} type="checkbox" checked={erase} onChange={(e) => setErase(e.target.checked)} />
              Also erase every message I sent
            </label>
            <label htmlFor={typedId}>Type {word} to confirm</label>
            <div className="inline">
              <input id={typedId} value={typed} autoComplete="off" onChange={(e) => setTyped(e.target.value)} />
              <button type="submit" className="danger" disabled={busy || typed.trim() !== word}>
                Delete my account
              </button>
              <button type="button" disabled={busy} onClick={() => setConfirming(false)}>Cancel</button>
            </div>
          </form>
        )}
      </section>
      {error && <p className="error" role="alert">{error}</p>}
    </Dialog>
  );
}
