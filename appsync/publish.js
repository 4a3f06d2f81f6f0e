/**
 * publishUserEvent (IAM only) on a NONE data source: the stream consumer's events are
 * passed through unchanged, which is what fans them out to onUserEvent(userId) subscribers.
 */
export function request(ctx) {
  return { payload: ctx.args.input };
}

export function response(ctx) {
  return ctx.result;
}
