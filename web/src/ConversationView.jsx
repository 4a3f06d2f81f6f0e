import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { M, Q, S, call, newClientMessageId, subscribe, uploadWithTicket } from './api.js';
import { Composer } from './Composer.jsx';
import { BlockButton } from './BlockButton.jsx';
import { MembersPanel } from './MembersPanel.jsx';
import { MessageItem, PendingItem } from './MessageItem.jsx';
import { ThreadPanel } from './ThreadPanel.jsx';
import { ConversationSettings } from './ConversationSettings.jsx';
import { PresenceDot } from './PresenceDot.jsx';

const PAGE = 30;
const CATCH_UP_PAGE = 100;
const TYPING_EVERY_MS = 3500; // the server rate-limits faster senders
const JUMP_CONTEXT = 5; // messages shown before a search hit one jumps to
const JUMP_PAGES = 20; // at most this many pages loaded to reach it

const bySeq = (a, b) => a.seq - b.seq;
const NEAR_BOTTOM_PX = 160;
// The API takes a bare MIME type (no parameters); unknown types upload as bytes.
const mimeOf = (file) => (file.type || 'application/octet-stream').split(';')[0].trim().toLowerCase();
const nearBottom = (el) => el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;

export function ConversationView({
  conversation, title, me, nameOf, learnNames, isOnline, mutedUntil, onActivity, onRead, onMembers, onRenamed,
  onMuted, onBack, blocks, focus, onMembersShown,
}) {
  const cid = conversation.id;
  const [byId, setById] = useState(() => new Map());
  const [pending, setPending] = useState([]);
  const [nextToken, setNextToken] = useState(null);
  const [phase, setPhase] = useState('loading'); // loading | ready | error
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [receipts, setReceipts] = useState({}); // userId -> readSeq
  const [typing, setTyping] = useState({}); // userId -> expiresAt (ms)
  // Members are paged (Query.members): the pages loaded so far, and the token of the next.
  const [members, setMembers] = useState([]);
  const [membersToken, setMembersToken] = useState(null);
  const [threadRootId, setThreadRootId] = useState(null);
  const [showMembers, setShowMembers] = useState(false);
  const [showSettings, setShowSettings] = useState(false);
  const [error, setError] = useState('');
  const [now, setNow] = useState(Date.now());
  const [membersVersion, setMembersVersion] = useState(0);

  // The first page of members (who `@` completes to, who has seen what), again after a
  // membership change; more pages on demand (the members panel).
  useEffect(() => {
    let live = true;
    call(Q.members, { conversationId: cid, limit: 100 }).then((data) => {
      if (!live) return;
      setMembers(data.members.items);
      setMembersToken(data.members.nextToken);
    }).catch(() => {}); // no longer a member: the conversation leaves the list
    return () => { live = false; };
  }, [cid, membersVersion]);

  useEffect(() => {
    onMembersShown?.(members.map((m) => m.userId));
    return () => onMembersShown?.([]);
  }, [members, onMembersShown]);

  const moreMembers = useCallback(async () => {
    if (!membersToken) return;
    const data = await call(Q.members, { conversationId: cid, limit: 100, nextToken: membersToken });
    setMembers((list) => [...list, ...data.members.items.filter((m) => !list.some((x) => x.userId === m.userId))]);
    setMembersToken(data.members.nextToken);
  }, [cid, membersToken]);

  const scroller = useRef(null);
  const topSentinel = useRef(null);
  const loadedRef = useRef(false);
  const maxSeqRef = useRef(0);
  const catchingUp = useRef(null);
  const catchUpAgain = useRef(false);
  const catchUpRef = useRef(null);
  const readSent = useRef(0);
  const lastTyping = useRef(0);
  const scrollMode = useRef('bottom'); // bottom | keep | none
  const prevHeight = useRef(0);
  const pendingFiles = useRef(new Map()); // clientMessageId -> {files, uploadIds}

  // New content keeps the view at the bottom only when the reader is already there.
  const followIfNearBottom = useCallback(() => {
    if (scroller.current && nearBottom(scroller.current)) scrollMode.current = 'bottom';
  }, []);

  const upsert = useCallback((messages) => {
    if (!messages.length) return;
    setById((prev) => {
      const next = new Map(prev);
      for (const m of messages) {
        if (m.conversationId !== cid) continue;
        const old = next.get(m.id);
        if (!old || m.version >= old.version) next.set(m.id, m);
        // A new reply updates its root here: no event carries the root's new counters. The
        // root as last fetched counts replies up to its lastReplyAt, so only newer ones count.
        const root = m.parentId && !old ? next.get(m.parentId) : null;
        if (root && (!root.lastReplyAt || m.createdAt > root.lastReplyAt)) {
          next.set(root.id, {
            ...root,
            replyCount: root.replyCount + 1,
            lastReplyAt: m.createdAt,
            replyUserIds: root.replyUserIds.includes(m.senderId) ? root.replyUserIds : [...root.replyUserIds, m.senderId],
          });
        }
      }
      return next;
    });
    const mine = new Set(messages.filter((m) => m.senderId === me.id && m.clientMessageId).map((m) => m.clientMessageId));
    if (mine.size) setPending((p) => p.filter((x) => !mine.has(x.clientMessageId)));
  }, [cid, me.id]);

  const all = useMemo(() => [...byId.values()].sort(bySeq), [byId]);
  const maxSeq = all.length ? all[all.length - 1].seq : 0;
  maxSeqRef.current = Math.max(maxSeqRef.current, maxSeq);

  // A membership change (ours or live): members, the SYSTEM message, the list's preview.
  const membershipChanged = useCallback((change) => {
    followIfNearBottom();
    onMembers(cid, change, change.actorId);
    setMembersVersion((v) => v + 1); // the loaded pages again
    if (change.message) {
      upsert([change.message]);
      onActivity(cid, change.message);
    }
  }, [cid, followIfNearBottom, onMembers, onActivity, upsert]);

  // Catch up by seq (after a (re)subscription or a gap): messagesSince, oldest first, from
  // `fromSeq` (default: the newest seq held).
  const catchUp = useCallback(async (fromSeq) => {
    if (!loadedRef.current) return undefined;
    if (catchingUp.current) {
      catchUpAgain.current = true; // a run in flight may have started before what we missed
      return catchingUp.current;
    }
    catchingUp.current = (async () => {
      try {
        let after = fromSeq ?? maxSeqRef.current;
        for (;;) {
          const data = await call(Q.messagesSince, { conversationId: cid, afterSeq: after, limit: CATCH_UP_PAGE });
          const items = data.messagesSince.items;
          followIfNearBottom();
          upsert(items);
          if (items.length) after = Math.max(after, items[items.length - 1].seq);
          maxSeqRef.current = Math.max(maxSeqRef.current, after);
          if (items.length < CATCH_UP_PAGE) break;
        }
      } catch (err) {
        setError(`Could not catch up: ${err.message}`);
      } finally {
        catchingUp.current = null;
      }
      if (catchUpAgain.current) {
        catchUpAgain.current = false;
        await catchUpRef.current();
      }
    })();
    return catchingUp.current;
  }, [cid, upsert, followIfNearBottom]);
  catchUpRef.current = catchUp;

  // Subscribe first, then load the newest page, then catch up by seq; dedupe by id/version.
  useEffect(() => {
    const stops = [
      subscribe(S.onMessage, { conversationId: cid }, {
        onAck: () => catchUp(),  // (re)subscribed: fetch what was sent meanwhile
        onError: (err) => setError(`Live messages stopped: ${err.message}`),
        onData: (m) => {
          const gap = loadedRef.current && !m.parentId && m.seq > maxSeqRef.current + 1;
          followIfNearBottom();
          upsert([m]);
          if (m.version === 1 && m.senderId !== me.id) {
            setTyping((prev) => {
              if (!(m.senderId in prev)) return prev;
              const next = { ...prev };
              delete next[m.senderId];
              return next;
            });
          }
          if (gap) catchUp();
        },
      }),
      subscribe(S.onReceipt, { conversationId: cid }, {
        onData: (r) => {
          if (r.kind !== 'READ') return;
          setReceipts((prev) => ({ ...prev, [r.userId]: Math.max(prev[r.userId] ?? 0, r.seq) }));
        },
      }),
      subscribe(S.onTyping, { conversationId: cid }, {
        onData: (t) => {
          if (t.userId === me.id) return;
          setTyping((prev) => {
            const next = { ...prev };
            if (t.typing) next[t.userId] = Date.parse(t.expiresAt);
            else delete next[t.userId];
            return next;
          });
        },
      }),
      subscribe(S.onMembershipChange, { conversationId: cid }, {
        onData: (change) => membershipChanged(change),
      }),
    ];
    let active = true;
    (async () => {
      try {
        const [page, receiptList] = await Promise.all([
          call(Q.messages, { conversationId: cid, limit: PAGE }),
          call(Q.readReceipts, { conversationId: cid }),
        ]);
        if (!active) return;
        scrollMode.current = 'bottom';
        upsert(page.messages.items);
        setNextToken(page.messages.nextToken);
        setReceipts((prev) => {
          const next = { ...prev };
          for (const r of receiptList.readReceipts) next[r.userId] = Math.max(next[r.userId] ?? 0, r.readSeq);
          return next;
        });
        const pageMax = Math.max(0, ...page.messages.items.map((m) => m.seq));
        maxSeqRef.current = Math.max(maxSeqRef.current, pageMax);
        loadedRef.current = true;
        setPhase('ready');
        // From the page's newest: a live message may already be held beyond a missed one.
        catchUp(pageMax);
      } catch (err) {
        if (active) {
          setPhase('error');
          setError(`Could not load messages: ${err.message}`);
        }
      }
    })();
    return () => {
      active = false;
      for (const stop of stops) stop();
    };
  }, [cid, me.id, upsert, catchUp, membershipChanged, followIfNearBottom]);

  // The list learnt of a newer message (onUserEvent MESSAGE): one this view's subscriptions do
  // not carry (a rename's SYSTEM message) or has not received yet; catch up by seq.
  useEffect(() => {
    if (phase === 'ready' && conversation.lastSeq > maxSeqRef.current) catchUp();
  }, [conversation.lastSeq, phase, catchUp]);

  // Older pages (infinite scroll upwards): messages, newest first, with nextToken.
  const loadOlder = useCallback(async () => {
    if (!nextToken || loadingOlder) return;
    setLoadingOlder(true);
    try {
      const data = await call(Q.messages, { conversationId: cid, limit: PAGE, nextToken });
      if (scroller.current) prevHeight.current = scroller.current.scrollHeight;
      scrollMode.current = 'keep';
      upsert(data.messages.items);
      setNextToken(data.messages.nextToken);
    } catch (err) {
      setError(`Could not load older messages: ${err.message}`);
    } finally {
      setLoadingOlder(false);
    }
  }, [cid, nextToken, loadingOlder, upsert]);

  useEffect(() => {
    const sentinel = topSentinel.current;
    if (!sentinel || !scroller.current || !nextToken) return undefined;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadOlder();
    }, { root: scroller.current, rootMargin: '200px 0px 0px 0px' });
    observer.observe(sentinel);
    return () => observer.disconnect();
  }, [nextToken, loadOlder, phase]);

  // Images load after layout: stay at the bottom if the reader was there.
  useEffect(() => {
    const el = scroller.current;
    if (!el) return undefined;
    let wasNearBottom = true;
    const onScroll = () => { wasNearBottom = nearBottom(el); };
    const onLoad = (event) => {
      if (event.target instanceof HTMLImageElement && wasNearBottom) el.scrollTop = el.scrollHeight;
    };
    el.addEventListener('scroll', onScroll, { passive: true });
    el.addEventListener('load', onLoad, true);
    return () => {
      el.removeEventListener('scroll', onScroll);
      el.removeEventListener('load', onLoad, true);
    };
  }, []);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (scrollMode.current === 'bottom') el.scrollTop = el.scrollHeight;
    else if (scrollMode.current === 'keep') el.scrollTop += el.scrollHeight - prevHeight.current;
    scrollMode.current = 'none';
  }, [all, pending]);

  // A search hit to show (`focus`): load from just before it up to what is held (contiguous,
  // at most JUMP_PAGES pages), then scroll it into view and mark it (data-focused).
  const focusDone = useRef(null);
  useEffect(() => {
    if (!focus || phase !== 'ready' || focusDone.current === focus.at) return;
    focusDone.current = focus.at;
    (async () => {
      try {
        upsert([focus]);
        const held = [...byId.values()].filter((m) => !m.parentId).map((m) => m.seq);
        const lowest = held.length ? Math.min(...held) : Infinity;
        let after = Math.max(0, focus.seq - JUMP_CONTEXT - 1);
        for (let i = 0; i < JUMP_PAGES && after < lowest - 1; i += 1) {
          const data = await call(Q.messagesSince, { conversationId: cid, afterSeq: after, limit: CATCH_UP_PAGE });
          const items = data.messagesSince.items;
          upsert(items);
          if (items.length < CATCH_UP_PAGE) break;
          after = items[items.length - 1].seq;
        }
      } catch (err) {
        setError(`Could not open the message: ${err.message}`);
      }
      if (focus.parentId) setThreadRootId(focus.parentId);
      scrollMode.current = 'none';
      requestAnimationFrame(() => {
        const el = scroller.current?.querySelector(`[data-seq="${focus.seq}"]`)
          ?? document.querySelector(`[data-seq="${focus.seq}"]`);
        if (!el) return;
        for (const old of document.querySelectorAll('[data-focused]')) delete old.dataset.focused;
        el.dataset.focused = 'true';
        el.scrollIntoView({ block: 'center' });
      });
    })();
  }, [focus, phase, byId, cid, upsert]);

  // Read receipts: everything shown is read while the page is visible.
  useEffect(() => {
    if (phase !== 'ready' || maxSeq === 0) return undefined;
    const mark = () => {
      if (document.visibilityState === 'hidden' || maxSeq <= readSent.current) return;
      readSent.current = maxSeq;
      call(M.markRead, { conversationId: cid, seq: maxSeq })
        .then(({ markRead }) => {
          setReceipts((prev) => ({ ...prev, [me.id]: Math.max(prev[me.id] ?? 0, markRead.seq) }));
          onRead(cid);
        })
        .catch((err) => {
          readSent.current = 0;
          setError(`Could not mark as read: ${err.message}`);
        });
    };
    mark();
    document.addEventListener('visibilitychange', mark);
    return () => document.removeEventListener('visibilitychange', mark);
  }, [phase, maxSeq, cid, me.id, onRead]);

  // Typing indicators expire on their own.
  useEffect(() => {
    if (!Object.keys(typing).length) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [typing]);

  const notifyTyping = useCallback(() => {
    const t = Date.now();
    if (t - lastTyping.current < TYPING_EVERY_MS) return;
    lastTyping.current = t;
    call(M.sendTyping, { conversationId: cid, typing: true }).catch(() => {});
  }, [cid]);

  const patchPending = (clientMessageId, change) =>
    setPending((list) => list.map((p) => (p.clientMessageId === clientMessageId ? { ...p, ...change } : p)));

  // Send (and retry with the same clientMessageId: the server returns the original, never a copy).
  const deliver = useCallback(async (entry) => {
    const { clientMessageId } = entry;
    patchPending(clientMessageId, { status: 'sending', error: '' });
    try {
      const stored = pendingFiles.current.get(clientMessageId) ?? { files: [], uploadIds: null };
      if (stored.files.length && !stored.uploadIds) {
        const ids = [];
        for (const [index, file] of stored.files.entries()) {
          const { requestUpload: ticket } = await call(M.requestUpload, {
            conversationId: cid, fileName: file.name, contentType: mimeOf(file), size: file.size,
          });
          await uploadWithTicket(ticket, file, (fraction) => {
            setPending((list) => list.map((p) => (p.clientMessageId === clientMessageId
              ? { ...p, progress: { ...p.progress, [index]: fraction } } : p)));
          });
          ids.push(ticket.uploadId);
        }
        stored.uploadIds = ids;
        pendingFiles.current.set(clientMessageId, stored);
      }
      const input = { conversationId: cid, clientMessageId };
      if (entry.body) input.body = entry.body;
      if (entry.parentId) input.parentId = entry.parentId;
      if (stored.uploadIds?.length) input.attachments = stored.uploadIds;
      if (entry.mentions?.length) input.mentions = entry.mentions;
      const { sendMessage: message } = await call(M.sendMessage, { input });
      scrollMode.current = 'bottom';
      upsert([message]);
      pendingFiles.current.delete(clientMessageId);
      onActivity(cid, message);
    } catch (err) {
      patchPending(clientMessageId, { status: 'failed', error: err.message });
    }
  }, [cid, upsert, onActivity]);

  const send = useCallback((body, files, parentId = null, mentions = []) => {
    const entry = {
      clientMessageId: newClientMessageId(), body: body.trim(), parentId, mentions, status: 'sending', error: '',
      createdAt: new Date().toISOString(), fileNames: files.map((f) => f.name), progress: {},
    };
    pendingFiles.current.set(entry.clientMessageId, { files, uploadIds: null });
    scrollMode.current = 'bottom';
    setPending((list) => [...list, entry]);
    deliver(entry);
  }, [deliver]);

  const act = useCallback(async (mutation, variables) => {
    try {
      const data = await call(mutation, variables);
      upsert([Object.values(data)[0]]);
      return true;
    } catch (err) {
      setError(err.errorType === 'Conflict' ? 'Someone changed this message first; try again.' : err.message);
      return false;
    }
  }, [upsert]);

  const myRole = conversation.myRole ?? 'MEMBER';
  const others = members.filter((m) => m.userId !== me.id).map((m) => m.userId);
  const timeline = all.filter((m) => !m.parentId);
  const mineShown = timeline.filter((m) => m.senderId === me.id && m.kind !== 'SYSTEM');
  const lastMine = mineShown[mineShown.length - 1];
  const seenBy = lastMine ? others.filter((u) => (receipts[u] ?? 0) >= lastMine.seq) : [];
  const typingNames = Object.entries(typing).filter(([, until]) => until > now).map(([u]) => nameOf(u));
  const threadRoot = threadRootId ? byId.get(threadRootId) : null;

  const closeThread = useCallback(() => setThreadRootId(null), []);
  const closeMembers = useCallback(() => setShowMembers(false), []);
  const closeSettings = useCallback(() => setShowSettings(false), []);
  const left = useCallback((change) => onMembers(cid, change, change.actorId), [cid, onMembers]);
  // Deleted (by me, for everyone): it leaves my list at once, as when I leave.
  const deleted = useCallback((deletion) => onMembers(cid, null, deletion.deletedBy), [cid, onMembers]);
  const directPeer = conversation.kind === 'DIRECT' ? conversation.peerId : null;
  // Who `@` completes to: the other members, by their names.
  const people = useMemo(() => others.map((u) => ({ id: u, name: nameOf(u) }))
    .filter((p) => p.name && p.name !== '…' && p.name !== 'Unknown user'), [others.join(), nameOf]);
  const itemProps = { me, myRole, nameOf, cid, act, onOpenThread: setThreadRootId, blocks };

  return (
    <div className={`conversation ${threadRoot ? 'with-thread' : ''}`}>
      <section className="conversation-main" aria-label={`Conversation ${title}`}>
        <header className="conversation-header">
          <button type="button" className="icon back" onClick={onBack} aria-label="Back to conversations">←</button>
          <h2 data-testid="conversation-title">{title}</h2>
          {directPeer && <PresenceDot name={nameOf(directPeer)} online={isOnline(directPeer)} />}
          {directPeer && <BlockButton userId={directPeer} name={nameOf(directPeer)} blocks={blocks} />}
          <span className="muted header-info">{conversation.kind === 'GROUP' ? `${conversation.memberCount} ${conversation.memberCount === 1 ? 'member' : 'members'}` : 'Direct'}</span>
          {conversation.kind === 'GROUP' && (
            <button type="button" onClick={() => setShowMembers((v) => !v)} aria-expanded={showMembers}>Members</button>
          )}
          <button type="button" className="icon" onClick={() => setShowSettings(true)} aria-haspopup="dialog"
                  aria-label="Conversation settings" title="Conversation settings">⚙</button>
        </header>
        {error && (
          <p className="error" role="alert">
            {error} <button type="button" className="link" onClick={() => setError('')} aria-label="Dismiss error">×</button>
          </p>
        )}
        <div className="messages" ref={scroller} role="log" aria-label="Messages" aria-live="polite" tabIndex={0}>
          <div ref={topSentinel} className="top-sentinel">
            {nextToken ? (
              <button type="button" className="link" onClick={loadOlder} disabled={loadingOlder}>
                {loadingOlder ? 'Loading…' : 'Load older messages'}
              </button>
            ) : phase === 'ready' && <p className="muted">Start of the conversation</p>}
          </div>
          {phase === 'loading' && <p className="muted">Loading messages…</p>}
          <ol className="message-list">
            {timeline.map((m) => (
              <MessageItem key={m.id} message={m} {...itemProps}
                           seenBy={m === lastMine && seenBy.length ? seenBy.map(nameOf) : null} />
            ))}
            {pending.filter((p) => !p.parentId).map((p) => (
              <PendingItem key={p.clientMessageId} entry={p} onRetry={() => deliver(p)} />
            ))}
          </ol>
        </div>
        <p className="typing" aria-live="polite" data-testid="typing">
          {typingNames.length ? `${typingNames.join(', ')} ${typingNames.length > 1 ? 'are' : 'is'} typing…` : ''}
        </p>
        <Composer label="Message" onSend={(body, files, mentions) => send(body, files, null, mentions)}
                  onTyping={notifyTyping} disabled={phase !== 'ready'} people={people} />
      </section>
      {threadRoot && (
        <ThreadPanel root={threadRoot} replies={all.filter((m) => m.parentId === threadRoot.id)}
                     pending={pending.filter((p) => p.parentId === threadRoot.id)} itemProps={itemProps}
                     cid={cid} upsert={upsert} onRetry={deliver} onTyping={notifyTyping}
                     onSend={(body, files, mentions) => send(body, files, threadRoot.id, mentions)}
                     onClose={closeThread} people={people} />
      )}
      {showMembers && conversation.kind === 'GROUP' && (
        <MembersPanel cid={cid} me={me} myRole={myRole} members={members} nameOf={nameOf} isOnline={isOnline}
                      memberCount={conversation.memberCount} onMore={membersToken ? moreMembers : null}
                      learnNames={learnNames} onChange={membershipChanged} onClose={closeMembers}
                      blocks={blocks} />
      )}
      {showSettings && (
        <ConversationSettings conversation={conversation} title={title} myRole={myRole} mutedUntil={mutedUntil}
                              onRenamed={onRenamed} onMuted={onMuted} onLeft={left} onDeleted={deleted} onClose={closeSettings} />
      )}
    </div>
  );
}
