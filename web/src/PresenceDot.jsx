/** A contact's presence: a filled dot when online, a hollow one when offline, nothing while unknown. */
export function PresenceDot({ name, online }) {
  if (online === undefined) return null;
  const label = `${name} is ${online ? 'online' : 'offline'}`;
  return (
    <span className={`presence ${online ? 'online' : 'offline'}`} role="img" aria-label={label} title={label}
          data-testid="presence" />
  );
}
