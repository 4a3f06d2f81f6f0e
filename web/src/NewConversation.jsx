import { useEffect, useState } from 'react';
import { M, call } from './api.js';
import { UserPicker } from './UserPicker.jsx';

/** One person and no title: a direct conversation; otherwise a group. */
export function NewConversation({ me, learnNames, onCreated, onCancel }) {
  const [selected, setSelected] = useState([]);
  const [names, setNames] = useState({});
  const [title, setTitle] = useState('');
  const [group, setGroup] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  useEffect(() => {
    const onKey = (e) => e.key === 'Escape' && onCancel();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onCancel]);

  const toggle = (user) => {
    setNames((n) => ({ ...n, [user.id]: user.displayName }));
    setSelected((s) => (s.includes(user.id) ? s.filter((id) => id !== user.id) : [...s, user.id]));
  };
  const isGroup = group || selected.length > 1;

  const submit = async (event) => {
    event.preventDefault();
    if (!selected.length) {
      setError('Pick at least one person.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      const input = { memberIds: selected, ...(isGroup && title.trim() ? { title: title.trim() } : {}) };
      if (isGroup && !input.title && selected.length === 1) input.title = `${me.displayName} & ${names[selected[0]]}`;
      const data = await call(M.createConversation, { input });
      onCreated(data.createConversation);
    } catch (err) {
      setError(err.message);
      setBusy(false);
    }
  };

  return (
    <div className="dialog-backdrop">
      <form className="card dialog" role="dialog" aria-modal="true" aria-labelledby="new-conv-title" onSubmit={submit}>
        <h2 id="new-conv-title">New conversation</h2>
        <UserPicker me={me} learnNames={learnNames} selected={selected} onToggle={toggle} autoFocus />
        {selected.length > 0 && (
          <p className="muted">With: {selected.map((id) => names[id]).join(', ')}</p>
        )}
        {selected.length === 1 && (
          <label className="checkbox">
            <input type="checkbox" checked={group} onChange={(e) => setGroup(e.target.checked)} />
            Make it a group (can add people later)
          </label>
        )}
        {isGroup && (
          <label>
            Group name
            <input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={100} placeholder="Optional" />
          </label>
        )}
        {error && <p className="error" role="alert">{error}</p>}
        <div className="dialog-actions">
          <button type="button" onClick={onCancel}>Cancel</button>
          <button type="submit" className="primary" disabled={busy || !selected.length}>
            {isGroup ? 'Create group' : 'Start chat'}
          </button>
        </div>
      </form>
    </div>
  );
}
