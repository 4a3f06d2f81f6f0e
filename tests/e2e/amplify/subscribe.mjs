// The real Amplify JS v6 client against the CloudChat local stack (driven by
// tests/e2e/test_amplify.py, which starts the stack and plays the other user with gql).
//
//   NODE_EXTRA_CA_CERTS=<state dir>/tls/cert.pem node subscribe.mjs <config.json>
//
// config.json: {graphqlUrl (https://.../graphql), region, userPoolId, userPoolClientId,
//               cognitoEndpoint, username, password, conversationId,
//               forbiddenConversationId, timeoutMs,
//               documents: {me, onMessage} (operations.graphql's, see test_amplify.py)}
//
// Steps, each reported as one JSON line on stdout ({"event": ...}):
//   signedIn   signIn with USER_PASSWORD_AUTH against the local (moto) Cognito endpoint
//   me         a query over HTTPS with the user pool token
//   forbidden  onMessage on a conversation the user is not a member of -> the error Amplify got
//   ready      onMessage on the user's conversation is acknowledged (start_ack): send now;
//              with the WebSockets Amplify opened (URL, subprotocols)
//   message    the message another user sent, as Amplify delivered it
// then exits 0. Any failure prints {"event": "error", "error": ...} and exits 1.

import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { Amplify } from 'aws-amplify';
import { signIn } from 'aws-amplify/auth';
import { generateClient } from 'aws-amplify/api';
import { Hub } from 'aws-amplify/utils';

// Node 20 has no global WebSocket (Node 22 has); Amplify's real-time provider needs one.
// Every socket Amplify opens is recorded (URL, subprotocols; the auth blob only by its keys)
// and reported with the "ready" event, so the test can check how Amplify connected.
const opened = [];
const BaseWebSocket = globalThis.WebSocket ?? WebSocket;
const headerKeys = (protocol) => {
  try {
    const json = Buffer.from(protocol.slice('header-'.length), 'base64url').toString('utf8');
    return Object.keys(JSON.parse(json)).sort();
  } catch {
    return null;
  }
};
globalThis.WebSocket = class RecordingWebSocket extends BaseWebSocket {
  constructor(url, protocols, ...rest) {
    const list = protocols === undefined ? [] : [].concat(protocols);
    opened.push({
      url: String(url),
      protocols: list.map((p) => (p.startsWith('header-') ? 'header-<base64url>' : p)),
      headerKeys: list.filter((p) => p.startsWith('header-')).map(headerKeys)[0] ?? null,
    });
    super(url, protocols, ...rest);
  }
};

const emit = (event, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
};

const describe = (err) => {
  if (err === null || err === undefined) return String(err);
  if (err instanceof Error) return { name: err.name, message: err.message };
  try {
    return JSON.parse(JSON.stringify(err));
  } catch {
    return String(err);
  }
};

const fail = (what, err) => {
  emit('error', { step: what, error: describe(err) });
  process.exit(1);
};

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const timeoutMs = config.timeoutMs ?? 30000;
// operations.graphql's Me and OnMessage (with the fragments they spread), as the test read them
// through cloudchat_client.document: the one copy the web client and the Python client load.
const ME = config.documents.me;
const ON_MESSAGE = config.documents.onMessage;
const timer = setTimeout(() => fail('timeout', `no result in ${timeoutMs} ms`), timeoutMs);

Amplify.configure({
  Auth: {
    Cognito: {
      userPoolId: config.userPoolId,
      userPoolClientId: config.userPoolClientId,
      userPoolEndpoint: config.cognitoEndpoint,
      loginWith: { email: true },
    },
  },
  API: {
    GraphQL: {
      endpoint: config.graphqlUrl,
      region: config.region,
      defaultAuthMode: 'userPool',
    },
  },
});

const acked = (conversationId) =>
  new Promise((resolve) => {
    const stop = Hub.listen('api', ({ payload }) => {
      if (payload?.event === 'Subscription ack' && payload?.data?.variables?.conversationId === conversationId) {
        stop();
        resolve();
      }
    });
  });

async function main() {
  let result;
  try {
    result = await signIn({
      username: config.username,
      password: config.password,
      options: { authFlowType: 'USER_PASSWORD_AUTH' },
    });
  } catch (err) {
    fail('signIn', err);
  }
  if (!result.isSignedIn) fail('signIn', { nextStep: result.nextStep });
  emit('signedIn', { username: config.username });

  const client = generateClient();
  try {
    const me = await client.graphql({ query: ME });
    emit('me', { me: me.data.me });
  } catch (err) {
    fail('me', err);
  }

  // A non-member's subscription must be rejected with an error, not stay silently empty.
  const forbidden = new Promise((resolve) => {
    const sub = client
      .graphql({ query: ON_MESSAGE, variables: { conversationId: config.forbiddenConversationId } })
      .subscribe({
        next: (value) => fail('forbidden', { unexpectedData: value }),
        error: (err) => {
          resolve(describe(err));
          sub?.unsubscribe?.();
        },
      });
  });

  const ready = acked(config.conversationId);
  const received = new Promise((resolve) => {
    client
      .graphql({ query: ON_MESSAGE, variables: { conversationId: config.conversationId } })
      .subscribe({
        next: ({ data }) => resolve(data.onMessage),
        error: (err) => fail('subscribe', err),
      });
  });

  emit('forbidden', { error: await forbidden });
  await ready;
  emit('ready', { conversationId: config.conversationId, sockets: opened });
  const message = await received;
  emit('message', { message });
  clearTimeout(timer);
  process.exit(0);
}

main().catch((err) => fail('unexpected', err));
