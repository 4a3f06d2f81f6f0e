import { useEffect, useState } from 'react';
import { Q, call } from './api.js';
import { Dialog } from './Dialog.jsx';
import { timeOf } from './format.js';

/** Every version of a message body, oldest first (editHistory: the author, owners and admins). */
export function EditHistoryDialog({ cid, message, onClose }) {
  const [versions, setVersions] = useState(null);
  const [error, setError] = useState('');

  useEffect(() => {
    let active = true;
    call(Q.editHistory, { conversationId: cid, messageId: message.id })
      .then((data) => active && setVersions(data.editHistory))
      .catch((err) => active && setError(err.message));
    return () => {
      active = false;
    };
  }, [cid, message.id, message.version]);

  return (
    <Dialog title="Edit history" onClose={onClose}>
      {error && <p className="error" role="alert">{error}</p>}
      {!versions && !error && <p className="muted" aria-busy="true">Loading…</p>}
      {versions && versions.length === 0 && <p className="muted">No stored versions.</p>}
      {versions && versions.length > 0 && (
        <ol className="versions" aria-label="Versions">
          {versions.map((v, i) => (
            <li key={v.version} data-testid="version">
              <span className="meta">
                {i === versions.length - 1 ? 'Current' : `Version ${i + 1}`} · <time dateTime={v.at}>{timeOf(v.at)}</time>
              </span>
              <p className="body" data-testid="version-body">{v.body}</p>
            </li>
          ))}
        </ol>
      )}
    </Dialog>
  );
}
