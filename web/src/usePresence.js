import { useCallback, useEffect, useState } from 'react';
import { Q, call } from './api.js';

const ONLINE_MS = 60_000; // the server counts a heartbeat as online for a minute
const REFRESH_MS = 30_000; // contacts heartbeat every 30 s: re-read their lastSeen as often
const TICK_MS = 10_000;
const BATCH = 100; // presence() takes at most 100 ids

/**
 * Presence of the people who share a conversation with me: presence(userIds) for them (again
 * every 30 s and whenever the set changes), and PRESENCE events from onUserEvent as they come
 * online (`seen(userId, at)`). Going offline is not an event: lastSeen older than a minute.
 */
export function usePresence(contactIds) {
  const [lastSeen, setLastSeen] = useState({}); // userId -> ms (0: never)
  const [now, setNow] = useState(Date.now());
  const key = [...new Set(contactIds)].sort().join(',');

  const seen = useCallback((userId, at) => {
    const t = at ? Date.parse(at) : Date.now();
    setLastSeen((prev) => ((prev[userId] ?? 0) >= t ? prev : { ...prev, [userId]: t }));
    setNow(Date.now());
  }, []);

  useEffect(() => {
    if (!key) return undefined;
    let active = true;
    const ids = key.split(',');
    const load = async () => {
      for (let i = 0; i < ids.length; i += BATCH) {
        try {
          const data = await call(Q.presence, { userIds: ids.slice(i, i + BATCH) });
          if (!active) return;
          setLastSeen((prev) => {
            const next = { ...prev };
            for (const p of data.presence) {
              next[p.userId] = Math.max(next[p.userId] ?? 0, p.lastSeen ? Date.parse(p.lastSeen) : 0);
            }
            return next;
          });
          setNow(Date.now());
        } catch {
          // Forbidden when a contact stopped being one meanwhile: the next set is asked for.
        }
      }
    };
    load();
    const refresh = setInterval(load, REFRESH_MS);
    const tick = setInterval(() => setNow(Date.now()), TICK_MS);
    return () => {
      active = false;
      clearInterval(refresh);
      clearInterval(tick);
    };
  }, [key]);

  /** true / false, or undefined while unknown. */
  const isOnline = useCallback(
    (userId) => (userId in lastSeen ? lastSeen[userId] >= now - ONLINE_MS : undefined),
    [lastSeen, now],
  );

  return { isOnline, seen };
}
