// Every call goes through Amplify's generateClient() with Cognito user pool auth.
import { generateClient } from 'aws-amplify/api';
import { Hub } from 'aws-amplify/utils';
import OPERATIONS from '../../clients/cloudchat_client/operations.graphql?raw';

let client;
const api = () => (client ??= generateClient({ authMode: 'userPool' }));

// Every operation and fragment comes from the one documents file the Python client and the CLI
// load too. Each message-returning mutation and subscription selects ...MessageFields there: a
// subscriber gets the fields the mutation selected, so they must match.

/** The file's top-level definitions (comments dropped), split at brace depth 0. */
function definitions(text) {
  const source = text.replace(/#[^\n]*/g, '');
  const out = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < source.length; i += 1) {
    if (source[i] === '{') depth += 1;
    if (source[i] === '}') {
      depth -= 1;
      if (depth === 0) {
        out.push(source.slice(start, i + 1).trim());
        start = i + 1;
      }
    }
  }
  return out;
}

/** {kind: {rootField: the operation plus the fragments it spreads}}; `SendMessage` -> `sendMessage`. */
function load(text) {
  const fragments = {};
  const operations = [];
  for (const definition of definitions(text)) {
    const [, kind, name] = definition.match(/^(query|mutation|subscription|fragment)\s+(\w+)/);
    if (kind === 'fragment') fragments[name] = definition;
    else operations.push({ kind, name, definition });
  }
  const spreads = (body) => [...body.matchAll(/\.\.\.(\w+)/g)].map((m) => m[1]);
  const byKind = { query: {}, mutation: {}, subscription: {} };
  for (const { kind, name, definition } of operations) {
    const needed = [];
    const todo = spreads(definition);
    while (todo.length) {
      const fragment = todo.shift();
      if (!needed.includes(fragment)) {
        needed.push(fragment);
        todo.push(...spreads(fragments[fragment]));
      }
    }
    const key = name[0].toLowerCase() + name.slice(1);
    byKind[kind][key] = [definition, ...needed.map((f) => fragments[f])].join('\n');
  }
  return byKind;
}

const DOCUMENTS = load(OPERATIONS);
/** Queries, mutations and subscriptions by root field: Q.messages, M.sendMessage, S.onMessage ... */
export const Q = DOCUMENTS.query;
export const M = DOCUMENTS.mutation;
export const S = DOCUMENTS.subscription;

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
