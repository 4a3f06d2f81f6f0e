import { useCallback, useEffect, useState } from 'react';

const TICK_MS = 60_000;

/**
 * Muted conversations. The server's `Conversation.mutedUntil` (the caller's own mute, so a
 * mute set on another device shows too) is the source; what muteConversation answered here
 * overrides it until the list is loaded again. A time in the past means the mute ran out.
 */
export function useMuted(conversations) {
  const [overrides, setOverrides] = useState({}); // conversationId -> mutedUntil | null
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), TICK_MS);
    return () => clearInterval(timer);
  }, []);

  const setMuted = useCallback((conversationId, until) => {
    setOverrides((prev) => ({ ...prev, [conversationId]: until ?? null }));
  }, []);

  const mutedUntil = useCallback((conversationId) => {
    if (conversationId in overrides) return overrides[conversationId];
    return conversations.find((c) => c.id === conversationId)?.mutedUntil ?? null;
  }, [conversations, overrides]);

  const isMuted = useCallback((conversationId) => {
    const until = mutedUntil(conversationId);
    return Boolean(until) && Date.parse(until) > now;
  }, [mutedUntil, now]);

  return { mutedUntil, isMuted, setMuted };
}
