/**
 * The one AppSync function every Lambda-backed field runs (APPSYNC_JS).
 *
 * request(): invokes the field's Lambda with the same event a Direct Lambda resolver would get.
 * response(): a resolver reports a domain error by returning {"error": {"type", "message"}}
 * (cloudchat.api does this for every ChatError); this turns it into a GraphQL error with that
 * errorType, so clients see Forbidden / NotFound / BadRequest ... instead of Lambda:Unhandled.
 * The local stack applies the same rule (cloudchat_local), tested against this file.
 */
import { util } from '@aws-appsync/utils';

export function request(ctx) {
  return {
    operation: 'Invoke',
    payload: {
      arguments: ctx.arguments,
      identity: ctx.identity,
      source: ctx.source,
      info: ctx.info,
      request: ctx.request,
      prev: ctx.prev,
      stash: ctx.stash,
    },
  };
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  const result = ctx.result;
  if (result && typeof result === 'object' && result.error && result.error.type) {
    util.error(result.error.message, result.error.type, null, result.error.info || null);
  }
  return result;
}
