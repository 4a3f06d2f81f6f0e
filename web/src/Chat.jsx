import { useCallback, useEffect, useRef, useState } from 'react';
import { fetchAuthSession } from 'aws-amplify/auth';
import { M, Q, S, call, onConnectionState, subscribe } from './api.js';
import { AccountSettings } from './AccountSettings.jsx';
import { ConversationView } from './ConversationView.jsx';
import { NewConversation } from './NewConversation.jsx';
import { NotificationSettings } from './NotificationSettings.jsx';
import { ThemeToggle } from './ThemeToggle.jsx';
import { previewOf } from './format.js';
import { PresenceDot } from './PresenceDot.jsx';
import { ReportsView } from './ReportsView.jsx';
import { useBlocks } from './useBlocks.js';
import { SearchPanel } from './SearchPanel.jsx';
import { useMuted } from './useMuted.js';
import { useNames } from './useNames.js';
import { usePresence } from './usePresence.js';

const HEARTBEAT_MS = 30_000;

const activityOf = (c) => c.lastMessage?.createdAt ?? c.updatedAt ?? c.createdAt;

const fromServer = (c) => ({
  ...c,
  activityAt: activityOf(c),
  preview: c.lastMessage ? previewOf(c.lastMessage) : '',
  previewSenderId: c.lastMessage?.senderId ?? null,
});

const MODERATOR_GROUPS = ['moderator', 'admin'];

/** The signed-in user's Cognito groups (the tokens' `cognito:groups` claim). */
async function myGroups() {
  const { tokens } = await fetchAuthSession();
  const groups = tokens?.accessToken?.payload?.['cognito:groups'] ?? tokens?.idToken?.payload?.['cognito:groups'];
  return Array.isArray(groups) ? groups.map(String) : [];
}

const removedNotice = (c) => `You are no longer a member of ${c.title ? `“${c.title}”` : 'a conversation'}.`;

/** Moves (or puts) a conversation at the top: the list is ordered by last activity. */
const toTop = (list, conversation) => [conversation, ...list.filter((c) => c.id !== conversation.id)];

export function Chat({ config, onSignOut }) {
  const [me, setMe] = useState(null);
  const [conversations, setConversations] = useState([]);
  const [listState, setListState] = useState('loading');
  const [activeId, setActiveId] = useState(null);
  const [showNew, setShowNew] = useState(false);
  const [isModerator, setIsModerator] = useState(false);
  const [showReports, setShowReports] = useState(false);
  const [jump, setJump] = useState(null); // a search hit to show in its conversation
  const [showNotifications, setShowNotifications] = useState(false);
  const [showAccount, setShowAccount] = useState(false);
  const reportsButton = useRef(null);
  const [connection, setConnection] = useState('Connected');
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const activeRef = useRef(null);
  activeRef.current = activeId;
  const listRef = useRef(conversations);
  listRef.current = conversations;

  const { nameOf, learnNames } = useNames(me);
  const { mutedUntil, isMuted, setMuted } = useMuted(conversations);
  const blocks = useBlocks();
  // Presence of DIRECT peers and of the members loaded for the open conversation (a group's
  // members are paged on demand: Query.members).
  const [shownMembers, setShownMembers] = useState([]);
  const contactIds = [...conversations.map((c) => c.peerId), ...shownMembers].filter((u) => u && u !== me?.id);
  const { isOnline, seen } = usePresence(contactIds);

  const loadConversations = useCallback(async () => {
    try {
      const items = [];
      let nextToken = null;
      do {
        const data = await call(Q.conversations, { limit: 50, nextToken });
        items.push(...data.conversations.items.map(fromServer));
        nextToken = data.conversations.nextToken;
      } while (nextToken && items.length < 200);
      setConversations(items);
      setListState('ready');
    } catch (err) {
      setListState('error');
      setError(`Could not load conversations: ${err.message}`);
    }
  }, []);

  // Who am I, then the conversation list (names are looked up as they are needed).
  useEffect(() => {
    let active = true;
    (async () => {
      try {
        let { me: profile } = await call(Q.me);
        const pendingName = sessionStorage.getItem('cloudchat.pendingName');
        if (pendingName && pendingName !== profile.displayName) {
          const data = await call(M.updateProfile, { displayName: pendingName });
          profile = { ...profile, displayName: data.updateProfile.displayName };
        }
        sessionStorage.removeItem('cloudchat.pendingName');
        if (active) setMe(profile);
      } catch (err) {
        if (active) setError(`Could not load your profile: ${err.message}`);
      }
    })();
    return () => {
      active = false;
    };
  }, []);

  useEffect(() => {
    if (me) loadConversations();
  }, [me, loadConversations]);

  // Moderators and admins (Cognito groups) review reported messages; the API refuses others.
  useEffect(() => {
    let active = true;
    myGroups()
      .then((groups) => active && setIsModerator(groups.some((g) => MODERATOR_GROUPS.includes(g))))
      .catch(() => active && setIsModerator(false));
    return () => {
      active = false;
    };
  }, []);

  const openConversation = useCallback((id) => {
    setShowReports(false);
    setJump(null); // (a search hit sets its own after this)
    setActiveId(id);
  }, []);

  // Closing the Reports screen puts focus back on its entry (after the render that shows the
  // sidebar again on narrow screens).
  const refocusReports = useRef(false);
  const closeReports = useCallback(() => {
    refocusReports.current = true;
    setShowReports(false);
  }, []);
  useEffect(() => {
    if (!showReports && refocusReports.current) {
      refocusReports.current = false;
      reportsButton.current?.focus();
    }
  }, [showReports]);

  const updateConversation = useCallback((id, change, { top = false } = {}) => {
    setConversations((list) => {
      const current = list.find((c) => c.id === id);
      if (!current) return list;
      const next = { ...current, ...(typeof change === 'function' ? change(current) : change) };
      return top ? toTop(list, next) : list.map((c) => (c.id === id ? next : c));
    });
  }, []);

  const addConversation = useCallback(async (id) => {
    try {
      const { conversation } = await call(Q.conversation, { id });
      if (conversation) setConversations((list) => toTop(list, fromServer(conversation)));
    } catch (err) {
      setError(`Could not load a conversation: ${err.message}`);
    }
  }, []);

  // The user's own channel: previews, unread counts, added/removed, renamed.
  useEffect(() => {
    if (!me) return undefined;
    return subscribe(S.onUserEvent, { userId: me.id }, {
      onAck: () => loadConversations(), // catch up after (re)subscribing
      onError: (err) => setError(`Live updates stopped: ${err.message}`),
      onData: (event) => {
        const id = event.conversationId;
        if (event.type === 'MESSAGE') {
          if (!listRef.current.some((c) => c.id === id)) {
            addConversation(id); // new to this list: fetch it whole
            return;
          }
          setConversations((list) => {
            const current = list.find((c) => c.id === id);
            if (!current) return list;
            if (event.seq != null && event.seq < current.lastSeq) return list; // a repeat
            return toTop(list, {
              ...current,
              lastSeq: event.seq ?? current.lastSeq,
              preview: event.preview ?? current.preview,
              previewSenderId: event.senderId ?? current.previewSenderId,
              unreadCount: id === activeRef.current ? 0 : (event.unreadCount ?? current.unreadCount),
              activityAt: event.at ?? current.activityAt,
            });
          });
        } else if (event.type === 'ADDED_TO_CONVERSATION') {
          addConversation(id);
        } else if (event.type === 'REMOVED_FROM_CONVERSATION') {
          // Still listed: someone else removed me (leaving drops it from the list at once).
          const gone = listRef.current.find((c) => c.id === id);
          if (gone) setNotice(removedNotice(gone));
          setConversations((list) => list.filter((c) => c.id !== id));
          if (activeRef.current === id) setActiveId(null);
        } else if (event.type === 'MENTION') {
          // Someone mentioned me (even in a muted conversation): the list's @ badge.
          updateConversation(id, {
            unreadMentionCount: id === activeRef.current ? 0 : (event.unreadMentionCount ?? 1),
          });
        } else if (event.type === 'CONVERSATION_RENAMED') {
          updateConversation(id, { title: event.title });
        } else if (event.type === 'PRESENCE' && event.senderId) {
          seen(event.senderId, event.at);
        }
      },
    });
  }, [me, loadConversations, addConversation, updateConversation, seen]);

  // Real-time connection state (Amplify Hub): a banner while disrupted; the subscriptions
  // catch up by themselves when Amplify re-acknowledges them.
  useEffect(() => onConnectionState((state) => setConnection(state)), []);

  // Presence: online while the app is open.
  useEffect(() => {
    if (!me) return undefined;
    const beat = () => call(M.heartbeat).catch(() => {});
    beat();
    const timer = setInterval(beat, HEARTBEAT_MS);
    return () => clearInterval(timer);
  }, [me]);

  const active = conversations.find((c) => c.id === activeId) ?? null;

  const titleOf = useCallback(
    (c) => {
      if (c.title) return c.title;
      if (c.peerId) return nameOf(c.peerId);
      return c.memberCount > 1 ? `Group of ${c.memberCount}` : 'Just you';
    },
    [me, nameOf],
  );

  const titleOfId = useCallback((id) => {
    const c = conversations.find((x) => x.id === id);
    return c ? titleOf(c) : 'a conversation';
  }, [conversations, titleOf]);

  const jumpTo = useCallback((message) => {
    openConversation(message.conversationId);
    setJump({ ...message, at: Date.now() });
  }, [openConversation]);

  const onActivity = useCallback(
    (conversationId, message) => {
      updateConversation(conversationId, (c) => ({
        lastSeq: Math.max(c.lastSeq, message.seq),
        preview: previewOf(message),
        previewSenderId: message.senderId,
        activityAt: message.createdAt,
      }), { top: true });
    },
    [updateConversation],
  );

  const onRead = useCallback((conversationId) => updateConversation(conversationId,
    { unreadCount: 0, unreadMentionCount: 0 }),
    [updateConversation]);

  // A membership change (null: the conversation is gone): am I still in it?
  const onMembers = useCallback((conversationId, change, actorId) => {
    const out = !change || (me && ['REMOVED', 'LEFT'].includes(change.action) && change.userIds.includes(me.id));
    if (out) {
      const gone = listRef.current.find((c) => c.id === conversationId);
      if (gone && actorId !== me.id) setNotice(removedNotice(gone));
      setConversations((list) => list.filter((c) => c.id !== conversationId));
      if (activeRef.current === conversationId) setActiveId(null);
      return;
    }
    updateConversation(conversationId, (c) => ({
      memberCount: change.memberCount,
      myRole: change.action === 'ROLE_CHANGED' && me && change.userIds.includes(me.id) ? change.role : c.myRole,
    }));
  }, [me, updateConversation]);

  const onRenamed = useCallback((conversation) => updateConversation(conversation.id, (c) => ({
    title: conversation.title, lastSeq: Math.max(c.lastSeq, conversation.lastSeq),
  })), [updateConversation]);

  const created = (conversation) => {
    setConversations((list) => toTop(list, fromServer(conversation)));
    openConversation(conversation.id);
    setShowNew(false);
  };

  const sorted = conversations; // kept in last-activity order (server order, then toTop)

  return (
    <div className={`chat ${active || (showReports && isModerator) ? 'has-active' : ''}`}>
      <aside className="sidebar" aria-label="Conversations">
        <header className="sidebar-header">
          <h1 className="brand">CloudChat</h1>
          {isModerator && (
            <button type="button" ref={reportsButton} className={`icon reports-entry ${showReports ? 'active' : ''}`}
                    onClick={() => { setActiveId(null); setShowReports(true); }} aria-pressed={showReports}
                    aria-label="Reports" title="Reported messages (moderators)">⚑</button>
          )}
          <button type="button" className="icon" onClick={() => setShowNotifications(true)} disabled={!me}
                  aria-label="Notification settings" title="Notification settings">🔔</button>
          <ThemeToggle />
          <button type="button" className="icon" onClick={() => setShowAccount(true)} aria-haspopup="dialog"
                  aria-label="Settings" title="Settings">⚙</button>
          <button type="button" className="icon" onClick={onSignOut} aria-label="Sign out" title="Sign out">⎋</button>
        </header>
        {showAccount && <AccountSettings me={me} onDeleted={onSignOut} onClose={() => setShowAccount(false)} />}
        <div className="me" aria-label="Signed in as">
          <span className="avatar" aria-hidden="true">{(me?.displayName ?? '?').slice(0, 1).toUpperCase()}</span>
          <span data-testid="me-name">{me?.displayName ?? '…'}</span>
        </div>
        <button type="button" className="primary new-conversation" onClick={() => setShowNew(true)} disabled={!me}>
          New conversation
        </button>
        {connection !== 'Connected' && connection !== 'Disconnected' && (
          <p className="connection" role="status">Live updates: {connection === 'Connecting' ? 'connecting…' : 'reconnecting…'}</p>
        )}
        {error && (
          <p className="error" role="alert">
            {error} <button type="button" className="link" onClick={() => setError('')} aria-label="Dismiss error">×</button>
          </p>
        )}
        {notice && (
          <p className="notice" role="status">
            {notice} <button type="button" className="link" onClick={() => setNotice('')} aria-label="Dismiss notice">×</button>
          </p>
        )}
        {me && (
          <SearchPanel activeId={activeId} titleOf={titleOfId} nameOf={nameOf} learnNames={learnNames}
                       onJump={jumpTo} />
        )}
        {listState === 'loading' && <p className="muted">Loading conversations…</p>}
        {listState === 'ready' && sorted.length === 0 && <p className="muted">No conversations yet.</p>}
        <ul className="conversation-list" aria-label="Conversation list">
          {sorted.map((c) => {
            const peer = c.kind === 'DIRECT' ? c.peerId : null;
            return (
            <li key={c.id}>
              <button
                type="button"
                className={`conversation-item ${c.id === activeId ? 'active' : ''}`}
                aria-current={c.id === activeId ? 'true' : undefined}
                onClick={() => openConversation(c.id)}
                data-testid="conversation-item"
              >
                <span className="conversation-title">
                  {peer && <PresenceDot name={nameOf(peer)} online={isOnline(peer)} />}
                  <span className="title-text">{titleOf(c)}</span>
                  {isMuted(c.id) && (
                    <svg className="muted-icon" viewBox="0 0 24 24" role="img" aria-label="Muted" data-testid="muted">
                      <title>Muted</title>
                      <path d="M18 16v-5a6 6 0 0 0-9.5-4.9M6.3 8.4A6 6 0 0 0 6 11v5l-2 2h14M10 21h4M3 3l18 18" />
                    </svg>
                  )}
                  {c.unreadCount > 0 && c.id !== activeId && (
                    <span className="badge" data-testid="unread" aria-label={`${c.unreadCount} unread`}>{c.unreadCount}</span>
                  )}
                  {c.unreadMentionCount > 0 && c.id !== activeId && (
                    <span className="badge mention-badge" data-testid="mention-badge"
                          aria-label={`${c.unreadMentionCount} unread ${c.unreadMentionCount === 1 ? 'mention' : 'mentions'} of you`}>
                      @{c.unreadMentionCount}
                    </span>
                  )}
                </span>
                <span className="preview" data-testid="preview">
                  {c.preview && blocks.isBlocked(c.previewSenderId) ? 'Message from a blocked user'
                    : c.preview ? `${c.previewSenderId ? `${nameOf(c.previewSenderId)}: ` : ''}${c.preview}` : 'No messages yet'}
                </span>
              </button>
            </li>
            );
          })}
        </ul>
      </aside>
      <main className="main">
        {showReports && isModerator ? (
          <ReportsView nameOf={nameOf} onClose={closeReports} />
        ) : active && me ? (
          <ConversationView
            key={active.id}
            conversation={active}
            title={titleOf(active)}
            me={me}
            nameOf={nameOf}
            learnNames={learnNames}
            isOnline={isOnline}
            mutedUntil={mutedUntil(active.id)}
            onActivity={onActivity}
            onRead={onRead}
            onMembers={onMembers}
            onMembersShown={setShownMembers}
            onRenamed={onRenamed}
            onMuted={setMuted}
            blocks={blocks}
            onBack={() => setActiveId(null)}
            focus={jump?.conversationId === active.id ? jump : null}
          />
        ) : (
          <div className="empty-state"><p>Pick a conversation, or start a new one.</p></div>
        )}
      </main>
      {showNotifications && me && (
        <NotificationSettings initial={me.notificationSettings}
                              onChanged={(settings) => setMe((m) => ({ ...m, notificationSettings: settings }))}
                              onClose={() => setShowNotifications(false)} />
      )}
      {showNew && me && (
        <NewConversation me={me} learnNames={learnNames} onCreated={created} onCancel={() => setShowNew(false)} />
      )}
    </div>
  );
}
