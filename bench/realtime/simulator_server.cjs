// The engine-only workload's reference server: @aws-amplify/amplify-appsync-simulator serving
// echo.graphql (next to this file) with Mutation.echo on a NONE data source and API-key auth.
//
//   node bench/realtime/simulator_server.cjs <scratch dir with node_modules> <port>
//
// Started by python -m bench.realtime (simulator mode). Listens on 127.0.0.1 only (the
// simulator itself would listen on every interface: http.Server.listen is pinned to loopback
// below). Prints one JSON line {"graphql_url", "realtime_url", "api_key", "version"} once
// listening; stops on SIGTERM or when its stdin closes.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');

const [scratch, portArg] = process.argv.slice(2);
if (!scratch || !portArg) {
  console.error('usage: node simulator_server.cjs <scratch dir> <port>');
  process.exit(2);
}
const port = Number(portArg);

for (const proto of [http.Server.prototype, https.Server.prototype]) {
  const listen = proto.listen;
  proto.listen = function pinnedListen(...args) {
    if (typeof args[0] === 'number') {
      const callback = args.find((a) => typeof a === 'function');
      return callback ? listen.call(this, args[0], '127.0.0.1', callback) : listen.call(this, args[0], '127.0.0.1');
    }
    return listen.apply(this, args);
  };
}

const pkgName = '@aws-amplify/amplify-appsync-simulator';
const resolved = require.resolve(pkgName, { paths: [scratch] });
const { AmplifyAppSyncSimulator } = require(resolved);
let version = 'unknown';
try {
  let dir = path.dirname(resolved);
  while (dir !== path.dirname(dir) && !fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  version = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
} catch (e) {
  // keep 'unknown'
}

const API_KEY = 'da2-benchbenchbenchbenchbench';
const schema = fs.readFileSync(path.join(__dirname, 'echo.graphql'), 'utf8');

async function main() {
  const simulator = new AmplifyAppSyncSimulator({ port });
  simulator.init({
    schema: { content: schema },
    dataSources: [{ type: 'NONE', name: 'none' }],
    resolvers: [
      {
        kind: 'UNIT',
        typeName: 'Mutation',
        fieldName: 'echo',
        dataSourceName: 'none',
        requestMappingTemplate: '{"version": "2017-02-28", "payload": $util.toJson($ctx.args.input)}',
        responseMappingTemplate: '$util.toJson($ctx.result)',
      },
    ],
    appSync: {
      name: 'bench',
      apiKey: API_KEY,
      defaultAuthenticationType: { authenticationType: 'API_KEY' },
      additionalAuthenticationProviders: [],
    },
  });
  await simulator.start();
  const stop = async () => {
    try {
      await simulator.stop();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  console.log(
    JSON.stringify({
      graphql_url: `http://127.0.0.1:${port}/graphql`,
      realtime_url: `ws://127.0.0.1:${port}/graphql/realtime`,
      api_key: API_KEY,
      version,
    }),
  );
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
