// The deployment's settings come from config.json next to index.html, fetched at start:
// the local stack serves it (`make dev`), `make web-config STACK=...` writes it for AWS.
//   {graphqlUrl, region, userPoolId, userPoolClientId, authFlow, cognitoEndpoint, stage}
export async function loadConfig() {
  const url = new URL('config.json', document.baseURI);
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
  const config = await response.json();
  for (const key of ['graphqlUrl', 'region', 'userPoolId', 'userPoolClientId']) {
    if (!config[key]) throw new Error(`${url} has no ${key}`);
  }
  return { authFlow: 'USER_SRP_AUTH', cognitoEndpoint: null, stage: 'aws', ...config };
}

export function amplifyConfig(config) {
  return {
    Auth: {
      Cognito: {
        userPoolId: config.userPoolId,
        userPoolClientId: config.userPoolClientId,
        ...(config.cognitoEndpoint ? { userPoolEndpoint: config.cognitoEndpoint } : {}),
        loginWith: { email: true },
        signUpVerificationMethod: 'code',
      },
    },
    API: {
      GraphQL: {
        endpoint: config.graphqlUrl,
        region: config.region,
        defaultAuthMode: 'userPool',
      },
    },
  };
}
