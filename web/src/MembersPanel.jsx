import { useEffect, useState } from 'react';
import { M, call } from './api.js';
import { BlockButton } from './BlockButton.jsx';
import { PresenceDot } from './PresenceDot.jsx';
import { UserPicker } from './UserPicker.jsx';

const ROLES = ['OWNER', 'ADMIN', 'MEMBER'];

/** Group members; owners change roles and remove anyone, admins add and remove members. */
export function MembersPanel({
  cid, me, myRole, members, memberCount, onMore, nameOf, isOnline, learnNames, onChange, onClose, blocks,
}) {
  const [adding, setAdding] = useState([]);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const manager = myRole === 'OWNER' || myRole === 'ADMIN';

  useEffect(() => {
    const onKey = (e) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);

  const run = async (mutation, variables) => {
    setBusy(true);
    setError('');
    try {
      const data = await call(mutation, variables);
      onChange(Object.values(data)[0]);
      return true;
    } catch (err) {
      setError(err.message);
      return false;
    } finally {
      setBusy(false);
    }
  };

  const add = async () => {
    if (adding.length && (await run(M.addMembers, { conversationId: cid, userIds: adding }))) setAdding([]);
  };

  return (
    <aside className="members-panel" aria-label="Members">
      <header className="panel-header">
        <h3>Members</h3>
        <button type="button" className="icon" onClick={onClose} aria-label="Close members">×</button>
      </header>
      {error && <p className="error" role="alert">{error}</p>}
      <ul className="members">
        {members.map((m) => {
          const canRemove = m.userId !== me.id && (myRole === 'OWNER' || (myRole === 'ADMIN' && m.role === 'MEMBER'));
          return (
            <li key={m.userId}>
              <span className="member-name">
                {nameOf(m.userId)}{m.userId === me.id ? ' (you)' : ''}
                {m.userId !== me.id && <PresenceDot name={nameOf(m.userId)} online={isOnline(m.userId)} />}
              </span>
              {myRole === 'OWNER' && m.userId !== me.id ? (
                <select aria-label={`Role of ${nameOf(m.userId)}`} value={m.role} disabled={busy}
                        onChange={(e) => run(M.setMemberRole, { conversationId: cid, userId: m.userId, role: e.target.value })}>
                  {ROLES.map((r) => <option key={r} value={r}>{r.toLowerCase()}</option>)}
                </select>
              ) : (
                <span className="role">{m.role.toLowerCase()}</span>
              )}
              {canRemove && (
                <button type="button" disabled={busy} aria-label={`Remove ${nameOf(m.userId)}`}
                        onClick={() => run(M.removeMember, { conversationId: cid, userId: m.userId })}>Remove</button>
              )}
              {m.userId !== me.id && <BlockButton userId={m.userId} name={nameOf(m.userId)} blocks={blocks} />}
            </li>
          );
        })}
      </ul>
      {onMore && (
        <button type="button" className="more-members" disabled={busy} onClick={() => onMore().catch((err) => setError(err.message))}>
          More members ({members.length} of {memberCount})
        </button>
      )}
      {manager && (
        <div className="add-members">
          <UserPicker me={me} learnNames={learnNames} label="Add people" selected={adding}
                      exclude={members.map((m) => m.userId)}
                      onToggle={(u) => setAdding((s) => (s.includes(u.id) ? s.filter((x) => x !== u.id) : [...s, u.id]))} />
          <button type="button" className="primary" disabled={busy || !adding.length} onClick={add}>Add</button>
        </div>
      )}
    </aside>
  );
}
