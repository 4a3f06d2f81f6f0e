/**
 * Resolver-level code of the conversation subscriptions (onMessage, onReceipt, onTyping,
 * onMembershipChange). The pipeline runs appsync/invoke.js, which invokes the Lambda check
 * (members only: a domain error rejects the subscription). The Lambda answers with rules:
 *   filter       - an enhanced filter, evaluated against every published mutation result
 *                  (onMessage: this conversation's messages after the member joined);
 *   invalidation - an invalidation filter, evaluated against the payload appsync/revoke.js
 *                  sends when a member is removed or leaves: a match closes the subscription.
 * The local stack applies the same rules (cloudchat_local.emulator), tested against this file.
 */
import { util, extensions } from '@aws-appsync/utils';

export function request(ctx) {
  return {};
}

export function response(ctx) {
  const rules = ctx.prev.result;
  if (rules && typeof rules === 'object') {
    if (rules.filter && typeof rules.filter === 'object') {
      extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter(rules.filter));
    }
    if (rules.invalidation && typeof rules.invalidation === 'object') {
      extensions.setSubscriptionInvalidationFilter(util.transform.toSubscriptionFilter(rules.invalidation));
    }
  }
  return null;
}
