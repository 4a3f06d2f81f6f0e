"""Real-time fan-out benchmark: N subscribers on one conversation, M sequential mutations.

    .venv/bin/python -m bench.realtime [--modes full,engine,simulator] [--subscribers 10]
                                       [--messages 1000] [--profile] [--output FILE]

Prints one JSON document on stdout (progress goes to stderr). Modes, run one after another:

* ``full``: the real local stack (``python -m cloudchat_local.dev`` as a subprocess, on
  ephemeral 127.0.0.1 ports with a temporary state dir: moto server + the AppSync emulator
  running the real resolvers, Cognito JWTs from moto). Ten distinct Cognito users, all
  members of one GROUP conversation, each subscribe to ``onMessage`` over their own
  WebSocket; the same users take turns sending (round robin: 100 sends each for 1,000
  messages, under the default 120 sends/minute/user rate limit, which stays on; more
  messages bring in more sending members).
* ``engine``: the emulator alone (``_echo_server.py``, its own process) serving
  ``echo.graphql``: ``Mutation.echo`` on a NONE data source, ``Subscription.onEcho``
  filtered on ``channel``, Cognito JWT auth verified against a JWKS over HTTP.
* ``simulator``: the same schema and workload against ``@aws-amplify/amplify-appsync-simulator``
  (pinned, npm-installed into bench/.scratch/, API-key auth; ``simulator_server.cjs``); only
  when ``node`` and ``npm`` are on PATH.

Every mode uses the same client code in this process: gql ``AIOHTTPTransport`` for the
mutations (one keep-alive session per sender) and gql ``AppSyncWebsocketsTransport`` for
the subscribers (one WebSocket each). Delivery latency is measured from just before a
mutation is sent to when a subscriber's gql iterator yields it, for every (subscriber,
message) pair. Everything listens on and talks to 127.0.0.1 only; every phase has a time
limit and all child processes are stopped on the way out.
"""
