import { useState } from 'react';

/** Block or unblock a user (a member's row, a DIRECT conversation's header). */
export function BlockButton({ userId, name, blocks }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  if (!blocks) return null;
  const blocked = blocks.isBlocked(userId);
  const toggle = async () => {
    setBusy(true);
    setError('');
    try {
      await (blocked ? blocks.unblock(userId) : blocks.block(userId));
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" disabled={busy} onClick={toggle} aria-label={`${blocked ? 'Unblock' : 'Block'} ${name}`}
              title={blocked ? 'Unblock: their messages show and they can reach you again'
                : 'Block: no direct messages, group invitations or notifications from them'}>
        {blocked ? 'Unblock' : 'Block'}
      </button>
      {error && <span className="error" role="alert">{error}</span>}
    </>
  );
}
