import { useEffect, useState } from 'react';
import { confirmSignUp, getCurrentUser, signIn, signOut, signUp } from 'aws-amplify/auth';
import { Hub } from 'aws-amplify/utils';
import { Chat } from './Chat.jsx';
import { ThemeToggle } from './ThemeToggle.jsx';

const authMessage = (err) => {
  if (!err) return '';
  if (err.name === 'NotAuthorizedException') return 'Incorrect email or password.';
  if (err.name === 'UserNotFoundException') return 'Incorrect email or password.';
  if (err.name === 'UserNotConfirmedException') return 'Confirm your account with the emailed code first.';
  return err.message || String(err);
};

export function App({ config }) {
  const [user, setUser] = useState(undefined); // undefined: checking, null: signed out

  useEffect(() => {
    let active = true;
    getCurrentUser()
      .then((current) => active && setUser(current))
      .catch(() => active && setUser(null));
    // Amplify refreshes tokens by itself; a refresh that fails means the session is over.
    const stop = Hub.listen('auth', ({ payload }) => {
      if (payload.event === 'signedOut' || payload.event === 'tokenRefresh_failure') setUser(null);
    });
    return () => {
      active = false;
      stop();
    };
  }, []);

  if (user === undefined) return <p className="loading" aria-busy="true">Loading…</p>;
  if (!user) return <AuthScreen config={config} onSignedIn={setUser} />;
  return <Chat config={config} onSignOut={() => signOut().finally(() => setUser(null))} />;
}

function AuthScreen({ config, onSignedIn }) {
  const [mode, setMode] = useState('signIn'); // signIn | signUp | confirm
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [code, setCode] = useState('');
  const [error, setError] = useState('');
  const [info, setInfo] = useState('');
  const [busy, setBusy] = useState(false);

  const finishSignIn = async () => {
    const result = await signIn({
      username: email.trim(),
      password,
      options: { authFlowType: config.authFlow },
    });
    if (!result.isSignedIn) {
      if (result.nextStep?.signInStep === 'CONFIRM_SIGN_UP') {
        setMode('confirm');
        setInfo('Enter the confirmation code sent to your email.');
        return;
      }
      throw new Error(`Sign-in needs a step this client does not support: ${result.nextStep?.signInStep}`);
    }
    if (name.trim()) sessionStorage.setItem('cloudchat.pendingName', name.trim());
    onSignedIn(await getCurrentUser());
  };

  const submit = async (event) => {
    event.preventDefault();
    setError('');
    setInfo('');
    setBusy(true);
    try {
      if (mode === 'signIn') {
        await finishSignIn();
      } else if (mode === 'signUp') {
        const result = await signUp({
          username: email.trim(),
          password,
          options: { userAttributes: { email: email.trim(), ...(name.trim() ? { name: name.trim() } : {}) } },
        });
        if (result.isSignUpComplete) {
          await finishSignIn();
        } else {
          setMode('confirm');
          setInfo('We sent a confirmation code to your email.');
        }
      } else {
        await confirmSignUp({ username: email.trim(), confirmationCode: code.trim() });
        await finishSignIn();
      }
    } catch (err) {
      setError(authMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const title = { signIn: 'Sign in', signUp: 'Create an account', confirm: 'Confirm your account' }[mode];
  return (
    <main className="auth">
      <header className="auth-header">
        <h1>CloudChat</h1>
        <ThemeToggle />
      </header>
      <form className="card auth-form" onSubmit={submit} aria-labelledby="auth-title">
        <h2 id="auth-title">{title}</h2>
        <label>
          Email
          <input type="email" name="email" autoComplete="username" required value={email}
                 onChange={(e) => setEmail(e.target.value)} disabled={mode === 'confirm'} />
        </label>
        {mode !== 'confirm' && (
          <label>
            Password
            <input type="password" name="password" required minLength={8} value={password}
                   autoComplete={mode === 'signUp' ? 'new-password' : 'current-password'}
                   onChange={(e) => setPassword(e.target.value)} />
          </label>
        )}
        {mode === 'signUp' && (
          <label>
            Display name
            <input name="name" autoComplete="name" value={name} maxLength={64}
                   onChange={(e) => setName(e.target.value)} />
          </label>
        )}
        {mode === 'confirm' && (
          <label>
            Confirmation code
            <input name="code" inputMode="numeric" autoComplete="one-time-code" required value={code}
                   onChange={(e) => setCode(e.target.value)} />
          </label>
        )}
        {info && <p className="info" role="status">{info}</p>}
        {error && <p className="error" role="alert">{error}</p>}
        <button type="submit" className="primary" disabled={busy}>{busy ? 'Please wait…' : title}</button>
        {mode === 'signIn' ? (
          <p>No account? <button type="button" className="link" onClick={() => { setMode('signUp'); setError(''); }}>Create one</button></p>
        ) : (
          <p>Have an account? <button type="button" className="link" onClick={() => { setMode('signIn'); setError(''); }}>Sign in</button></p>
        )}
        {config.stage === 'local' && mode === 'confirm' && (
          <p className="hint">The local stack sends no email: any code is accepted.</p>
        )}
        {config.stage === 'local' && (
          <p className="hint">Local stack: demo users alice@example.com, bob@example.com, carol@example.com
            (password CloudChat-demo-2024).</p>
        )}
      </form>
    </main>
  );
}
