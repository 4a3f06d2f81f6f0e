// Every call goes through Amplify's generateClient() with Cognito user pool auth.
import { generateClient } from 'aws-amplify/api';
import { Hub } from 'aws-amplify/utils';

let client;
const api = () => (client ??= generateClient({ authMode: 'userPool' }));

// One fragment for every message-returning mutation and subscription: a subscriber gets the
// fields the mutation selected, so they must match.
const MESSAGE = `
  fragment MessageFields on Message {
    id conversationId seq senderId kind body createdAt clientMessageId version
    parentId replyCount lastReplyAt replyUserIds
    reactions { emoji count userIds reactedByMe }
    attachments { id name contentType size url }
    editedAt deletedAt deletedBy
  }`;
const CONVERSATION = `
  fragment ConversationFields on Conversation {
    id kind title createdBy members { userId role } memberCount lastSeq unreadCount mutedUntil
    createdAt updatedAt lastMessage { ...MessageFields }
  }
  ${MESSAGE}`;
const MEMBERSHIP = `
  fragment MembershipFields on MembershipChange {
    conversationId action actorId userIds role members { userId role } message { ...MessageFields }
  }
  ${MESSAGE}`;

export const Q = {
  me: `query Me { me { id username displayName email } }`,
  usersByIds: `query UsersByIds($ids: [ID!]!) { usersByIds(ids: $ids) { id displayName username } }`,
  users: `query Users($query: String, $limit: Int, $nextToken: String) {
    users(query: $query, limit: $limit, nextToken: $nextToken) { items { id displayName username } nextToken } }`,
  conversations: `query Conversations($limit: Int, $nextToken: String) {
    conversations(limit: $limit, nextToken: $nextToken) { items { ...ConversationFields } nextToken } } ${CONVERSATION}`,
  conversation: `query Conversation($id: ID!) { conversation(id: $id) { ...ConversationFields } } ${CONVERSATION}`,
  messages: `query Messages($conversationId: ID!, $limit: Int, $nextToken: String) {
    messages(conversationId: $conversationId, limit: $limit, nextToken: $nextToken) { items { ...MessageFields } nextToken } } ${MESSAGE}`,
  messagesSince: `query MessagesSince($conversationId: ID!, $afterSeq: Int!, $limit: Int) {
    messagesSince(conversationId: $conversationId, afterSeq: $afterSeq, limit: $limit) { items { ...MessageFields } nextToken } } ${MESSAGE}`,
  thread: `query Thread($conversationId: ID!, $rootId: ID!, $limit: Int, $nextToken: String) {
    thread(conversationId: $conversationId, rootId: $rootId, limit: $limit, nextToken: $nextToken) { items { ...MessageFields } nextToken } } ${MESSAGE}`,
  readReceipts: `query ReadReceipts($conversationId: ID!) { readReceipts(conversationId: $conversationId) { userId readSeq deliveredSeq } }`,
  presence: `query Presence($userIds: [ID!]!) { presence(userIds: $userIds) { userId online lastSeen } }`,
  editHistory: `query EditHistory($conversationId: ID!, $messageId: ID!) {
    editHistory(conversationId: $conversationId, messageId: $messageId) { version body at } }`,
  reportedMessages: `query ReportedMessages($limit: Int, $nextToken: String) {
    reportedMessages(limit: $limit, nextToken: $nextToken) {
      items { conversationId messageId reporterId reason createdAt message { ...MessageFields } } nextToken } } ${MESSAGE}`,
};

export const M = {
  createConversation: `mutation CreateConversation($input: CreateConversationInput!) {
    createConversation(input: $input) { ...ConversationFields } } ${CONVERSATION}`,
  sendMessage: `mutation SendMessage($input: SendMessageInput!) { sendMessage(input: $input) { ...MessageFields } } ${MESSAGE}`,
  editMessage: `mutation EditMessage($input: EditMessageInput!) { editMessage(input: $input) { ...MessageFields } } ${MESSAGE}`,
  deleteMessage: `mutation DeleteMessage($conversationId: ID!, $messageId: ID!) {
    deleteMessage(conversationId: $conversationId, messageId: $messageId) { ...MessageFields } } ${MESSAGE}`,
  addReaction: `mutation AddReaction($conversationId: ID!, $messageId: ID!, $emoji: String!) {
    addReaction(conversationId: $conversationId, messageId: $messageId, emoji: $emoji) { ...MessageFields } } ${MESSAGE}`,
  removeReaction: `mutation RemoveReaction($conversationId: ID!, $messageId: ID!, $emoji: String!) {
    removeReaction(conversationId: $conversationId, messageId: $messageId, emoji: $emoji) { ...MessageFields } } ${MESSAGE}`,
  markRead: `mutation MarkRead($conversationId: ID!, $seq: Int!) {
    markRead(conversationId: $conversationId, seq: $seq) { conversationId userId kind seq at } }`,
  sendTyping: `mutation SendTyping($conversationId: ID!, $typing: Boolean!) {
    sendTyping(conversationId: $conversationId, typing: $typing) { conversationId userId typing expiresAt } }`,
  requestUpload: `mutation RequestUpload($conversationId: ID!, $fileName: String!, $contentType: String!, $size: Int!) {
    requestUpload(conversationId: $conversationId, fileName: $fileName, contentType: $contentType, size: $size) {
      uploadId url fields key expiresAt maxBytes } }`,
  addMembers: `mutation AddMembers($conversationId: ID!, $userIds: [ID!]!) {
    addMembers(conversationId: $conversationId, userIds: $userIds) { ...MembershipFields } } ${MEMBERSHIP}`,
  removeMember: `mutation RemoveMember($conversationId: ID!, $userId: ID!) {
    removeMember(conversationId: $conversationId, userId: $userId) { ...MembershipFields } } ${MEMBERSHIP}`,
  setMemberRole: `mutation SetMemberRole($conversationId: ID!, $userId: ID!, $role: MemberRole!) {
    setMemberRole(conversationId: $conversationId, userId: $userId, role: $role) { ...MembershipFields } } ${MEMBERSHIP}`,
  leaveConversation: `mutation LeaveConversation($conversationId: ID!) {
    leaveConversation(conversationId: $conversationId) { ...MembershipFields } } ${MEMBERSHIP}`,
  renameConversation: `mutation RenameConversation($conversationId: ID!, $title: String!) {
    renameConversation(conversationId: $conversationId, title: $title) { ...ConversationFields } } ${CONVERSATION}`,
  muteConversation: `mutation MuteConversation($conversationId: ID!, $until: AWSDateTime) {
    muteConversation(conversationId: $conversationId, until: $until) { conversationId mutedUntil } }`,
  reportMessage: `mutation ReportMessage($conversationId: ID!, $messageId: ID!, $reason: String!) {
    reportMessage(conversationId: $conversationId, messageId: $messageId, reason: $reason) {
      conversationId messageId reporterId reason createdAt } }`,
  updateProfile: `mutation UpdateProfile($displayName: String) { updateProfile(displayName: $displayName) { id displayName } }`,
  heartbeat: `mutation Heartbeat { heartbeat { userId online lastSeen } }`,
};

export const S = {
  onMessage: `subscription OnMessage($conversationId: ID!) { onMessage(conversationId: $conversationId) { ...MessageFields } } ${MESSAGE}`,
  onReceipt: `subscription OnReceipt($conversationId: ID!) {
    onReceipt(conversationId: $conversationId) { conversationId userId kind seq at } }`,
  onTyping: `subscription OnTyping($conversationId: ID!) {
    onTyping(conversationId: $conversationId) { conversationId userId typing expiresAt } }`,
  onMembershipChange: `subscription OnMembershipChange($conversationId: ID!) {
    onMembershipChange(conversationId: $conversationId) { ...MembershipFields } } ${MEMBERSHIP}`,
  onUserEvent: `subscription OnUserEvent($userId: ID!) {
    onUserEvent(userId: $userId) { userId type conversationId seq senderId preview unreadCount title online at } }`,
};

/** An Error carrying the GraphQL errorType (BadRequest, Forbidden, Conflict, RateLimited ...). */
export class ApiError extends Error {
  constructor(message, errorType) {
    super(message);
    this.name = 'ApiError';
    this.errorType = errorType;
  }
}

const toError = (err) => {
  if (err instanceof Error && !err.errors) return err;
  const first = err?.errors?.[0];
  if (first) return new ApiError(first.message ?? 'request failed', first.errorType);
  return new Error(typeof err === 'string' ? err : 'request failed');
};

/** Runs a query or mutation and returns its data; throws an ApiError on a GraphQL error. */
export async function call(query, variables = {}) {
  try {
    const result = await api().graphql({ query, variables });
    if (result.errors?.length) throw result;
    return result.data;
  } catch (err) {
    throw toError(err);
  }
}

/**
 * Subscribes; `onData(value)` gets the field's value. `onAck()` runs once the server acknowledged
 * the subscription (start_ack), the moment to catch up on what was missed. Returns unsubscribe.
 */
export function subscribe(query, variables, { onData, onError, onAck }) {
  let stopHub = () => {};
  if (onAck) {
    const wanted = JSON.stringify(variables);
    const field = query.match(/\{\s*(\w+)\s*\(/)?.[1] ?? '';
    stopHub = Hub.listen('api', ({ payload }) => {
      if (payload?.event === 'Subscription ack' && JSON.stringify(payload?.data?.variables) === wanted
          && String(payload?.data?.query ?? '').includes(`${field}(`)) {
        onAck();
      }
    });
  }
  const subscription = api()
    .graphql({ query, variables })
    .subscribe({
      next: ({ data }) => {
        const value = data && Object.values(data)[0];
        if (value) onData(value);
      },
      error: (err) => onError?.(toError(err)),
    });
  return () => {
    stopHub();
    subscription.unsubscribe();
  };
}

/** Calls `listener(state)` on every real-time connection state change (Amplify Hub). */
export function onConnectionState(listener) {
  return Hub.listen('api', ({ payload }) => {
    if (payload?.event === 'ConnectionStateChange') listener(payload.data?.connectionState);
  });
}

/** A client-chosen idempotency key for sendMessage (8-64 of [A-Za-z0-9_-]). */
export function newClientMessageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * Uploads `file` with a presigned POST (requestUpload's ticket); `onProgress(fraction)`.
 * Resolves when the storage accepted it.
 */
export function uploadWithTicket(ticket, file, onProgress) {
  const fields = typeof ticket.fields === 'string' ? JSON.parse(ticket.fields) : ticket.fields;
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', file);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', ticket.url);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded / event.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.(1);
        resolve();
      } else {
        reject(new Error(`upload failed: HTTP ${xhr.status}`));
      }
    };
    xhr.onerror = () => reject(new Error('upload failed: network error'));
    xhr.send(form);
  });
}
