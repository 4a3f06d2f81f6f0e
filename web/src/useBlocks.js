import { useCallback, useEffect, useState } from 'react';
import { M, Q, call } from './api.js';

/**
 * The users the signed-in user blocked (blockedUsers), and block / unblock. Pages flag a blocked
 * sender's messages (`Message.senderBlocked`); live events carry the sender's view, so the client
 * also checks its own list. `hides(message)`: collapse it (a flag from before an unblock here
 * no longer counts).
 */
export function useBlocks() {
  const [blocked, setBlocked] = useState(() => new Set());
  const [cleared, setCleared] = useState(() => new Set()); // unblocked since the pages were read

  useEffect(() => {
    let live = true;
    call(Q.blockedUsers)
      .then((data) => live && setBlocked(new Set(data.blockedUsers.map((b) => b.userId))))
      .catch(() => {}); // an empty list until the next sign-in: pages still flag senders
    return () => {
      live = false;
    };
  }, []);

  const block = useCallback(async (userId) => {
    await call(M.blockUser, { userId });
    setBlocked((prev) => new Set(prev).add(userId));
    setCleared((prev) => {
      const next = new Set(prev);
      next.delete(userId);
      return next;
    });
  }, []);

  const unblock = useCallback(async (userId) => {
    await call(M.unblockUser, { userId });
    setBlocked((prev) => {
      const next = new Set(prev);
      next.delete(userId);
      return next;
    });
    setCleared((prev) => new Set(prev).add(userId));
  }, []);

  const isBlocked = useCallback((userId) => blocked.has(userId), [blocked]);
  const hides = useCallback(
    (message) => blocked.has(message.senderId) || (Boolean(message.senderBlocked) && !cleared.has(message.senderId)),
    [blocked, cleared],
  );

  return { isBlocked, hides, block, unblock };
}
