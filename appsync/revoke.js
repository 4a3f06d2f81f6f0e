/**
 * Resolver-level code of removeMember, leaveConversation and deleteConversation. The pipeline
 * runs appsync/invoke.js (the Lambda makes the change, or a domain error stops here); when the
 * result says members were REMOVED or LEFT, their open subscriptions on the conversation are
 * invalidated (closed): each subscription's invalidation filter (appsync/subscribe.js) matches
 * {conversationId, userId} for its own member's userId or for EVERYONE ('*'). When the result
 * says the conversation was DELETED, every member's subscriptions on it are closed with
 * userId EVERYONE. AppSync allows 5 invalidations per request: 4 fields x 1 user.
 * The local stack applies the same rule (cloudchat_local.emulator), tested against this file.
 */
import { extensions } from '@aws-appsync/utils';

export const FIELDS = ['onMessage', 'onReceipt', 'onTyping', 'onMembershipChange'];
export const EVERYONE = '*';

export function request(ctx) {
  return {};
}

export function response(ctx) {
  const change = ctx.prev.result;
  if (change && change.action === 'DELETED' && change.conversationId) {
    for (const subscriptionField of FIELDS) {
      extensions.invalidateSubscriptions({
        subscriptionField,
        payload: { conversationId: change.conversationId, userId: EVERYONE },
      });
    }
    return change;
  }
  if (change && (change.action === 'REMOVED' || change.action === 'LEFT') && Array.isArray(change.userIds)) {
    for (const userId of change.userIds) {
      for (const subscriptionField of FIELDS) {
        extensions.invalidateSubscriptions({
          subscriptionField,
          payload: { conversationId: change.conversationId, userId },
        });
      }
    }
  }
  return change;
}
