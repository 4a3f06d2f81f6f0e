import { useEffect, useState } from 'react';
import { M, Q, call } from './api.js';
import { Dialog } from './Dialog.jsx';

/**
 * Your notification settings: e-mail notices (to your verified address, while you are
 * offline) and mobile push. Each toggle shows the server's answer, never an assumption; a
 * refusal (an unverified address, a deployment without e-mail) is shown as it came.
 */
export function NotificationSettings({ initial, onChanged, onClose }) {
  const [settings, setSettings] = useState(initial ?? null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');

  // The settings as they are now (another tab or the CLI may have changed them).
  useEffect(() => {
    let active = true;
    call(Q.me)
      .then((data) => active && setSettings(data.me.notificationSettings))
      .catch((err) => active && setError(err.message));
    return () => {
      active = false;
    };
  }, []);

  const change = async (variables, done) => {
    setBusy(true);
    setError('');
    setStatus('');
    try {
      const data = await call(M.updateNotificationSettings, variables);
      setSettings(data.updateNotificationSettings);
      onChanged?.(data.updateNotificationSettings);
      setStatus(done);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };

  const emailOn = Boolean(settings?.email);
  const pushOn = Boolean(settings?.push);
  return (
    <Dialog title="Notifications" onClose={onClose} className="settings notification-settings">
      <section className="settings-row" aria-label="Notification channels">
        <p className="muted">While you are offline, a new message reaches you at most once per conversation every few minutes. Muted conversations never notify.</p>
        <label className="checkbox">
          <input type="checkbox" role="switch" checked={emailOn} disabled={busy || !settings || !settings.emailAvailable}
                 data-testid="email-notices" aria-describedby="email-notices-help"
                 onChange={(e) => change({ email: e.target.checked },
                   e.target.checked ? 'E-mail notices are on.' : 'E-mail notices are off.')} />
          <span>E-mail notices</span>
        </label>
        <p id="email-notices-help" className="muted" data-testid="email-notices-help">
          {!settings ? 'Loading…'
            : !settings.emailAvailable ? 'This deployment sends no e-mail notices.'
              : emailOn ? `To ${settings.emailAddress}, ${settings.emailIncludesText ? 'quoting' : 'without'} the message text.`
                : 'To your verified e-mail address: who wrote and where.'}
        </p>
        <label className="checkbox">
          <input type="checkbox" role="switch" checked={pushOn} disabled={busy || !settings}
                 data-testid="push-notices"
                 onChange={(e) => change({ push: e.target.checked },
                   e.target.checked ? 'Push notifications are on.' : 'Push notifications are off.')} />
          <span>Push notifications (mobile devices)</span>
        </label>
        {status && <p className="info" role="status">{status}</p>}
        {error && <p className="error" role="alert">{error}</p>}
      </section>
    </Dialog>
  );
}
