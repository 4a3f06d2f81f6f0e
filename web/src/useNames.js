import { useCallback, useRef, useState } from 'react';
import { Q, call } from './api.js';

const BATCH = 100; // usersByIds takes at most 100 ids
const BATCH_MS = 40; // ids asked for while rendering are looked up together

/**
 * Display names by user id, resolved lazily: ids nobody has named yet (a sender, a member, a
 * reactor) are collected for a moment and looked up together with `usersByIds` (one request
 * per 100). Ids the API does not know are shown as "Unknown user".
 */
export function useNames(me) {
  const [names, setNames] = useState({}); // userId -> displayName
  const known = useRef({});
  const wanted = useRef(new Set());
  const missing = useRef(new Set());
  const timer = useRef(null);
  const running = useRef(false);

  const learnNames = useCallback((users) => {
    if (!users.length) return;
    for (const u of users) {
      known.current[u.id] = u.displayName;
      wanted.current.delete(u.id);
      missing.current.delete(u.id);
    }
    setNames((prev) => {
      const next = { ...prev };
      for (const u of users) next[u.id] = u.displayName;
      return next;
    });
  }, []);

  const resolve = useCallback(async () => {
    timer.current = null;
    if (running.current) return;
    running.current = true;
    try {
      while (wanted.current.size) {
        const looking = [...wanted.current].slice(0, BATCH);
        const data = await call(Q.usersByIds, { ids: looking });
        learnNames(data.usersByIds);
        for (const id of looking) {
          if (!(id in known.current)) {
            missing.current.add(id);
            wanted.current.delete(id);
          }
        }
        setNames((prev) => ({ ...prev })); // re-render: the missing ones read "Unknown user"
      }
    } catch {
      // The API is unreachable: the ids stay unresolved until they are asked for again.
      wanted.current.clear();
    } finally {
      running.current = false;
      if (wanted.current.size && !timer.current) timer.current = setTimeout(resolve, BATCH_MS);
    }
  }, [learnNames]);

  const nameOf = useCallback(
    (userId) => {
      if (!userId) return '';
      if (me && userId === me.id) return me.displayName;
      if (userId in names) return names[userId];
      if (missing.current.has(userId)) return 'Unknown user';
      if (!wanted.current.has(userId)) {
        wanted.current.add(userId);
        if (!timer.current) timer.current = setTimeout(resolve, BATCH_MS);
      }
      return '…';
    },
    [me, names, resolve],
  );

  return { nameOf, learnNames, names };
}
