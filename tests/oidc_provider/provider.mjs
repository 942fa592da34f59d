// The OpenID provider the Compax tests sign in against: oidc-provider (OpenID Certified) with
// PKCE, the device flow, its development login pages (any password; the login is the account
// id) and a `groups` claim. Accounts are read from ACCOUNTS_FILE at every lookup so a test can
// change a person's groups; signing keys are read from JWKS_FILE at start so a test rotates
// them by restarting on the same port. With CLAIMS_IN_ID_TOKEN=0 the ID token carries only
// what OpenID Connect requires, and the profile (groups too) comes from userinfo.
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const settings = {
  port: Number(process.env.PORT),
  accountsFile: process.env.ACCOUNTS_FILE,
  jwksFile: process.env.JWKS_FILE,
  clientId: process.env.CLIENT_ID,
  clientSecret: process.env.CLIENT_SECRET,
  redirectUris: (process.env.REDIRECT_URIS ?? '').split(' ').filter(Boolean),
  claimsInIdToken: process.env.CLAIMS_IN_ID_TOKEN !== '0',
};

function readAccounts() {
  return JSON.parse(readFileSync(settings.accountsFile, 'utf8'));
}

async function findAccount(ctx, accountId) {
  const account = readAccounts()[accountId];
  if (!account) {
    return undefined;
  }
  return {
    accountId,
    async claims() {
      return {
        sub: accountId,
        preferred_username: accountId,
        name: account.name,
        email: account.email,
        email_verified: account.email_verified ?? true,
        groups: account.groups,
      };
    },
  };
}

const issuer = `http://127.0.0.1:${settings.port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: settings.clientId,
      client_secret: settings.clientSecret,
      application_type: 'native',
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: settings.redirectUris,
      response_types: ['code'],
      grant_types: [
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
      ],
    },
  ],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'groups'],
    email: ['email', 'email_verified'],
  },
  conformIdTokenClaims: !settings.claimsInIdToken,
  cookies: { keys: ['compax-tests-only'] },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
  },
  findAccount,
  jwks: JSON.parse(readFileSync(settings.jwksFile, 'utf8')),
  pkce: { required: () => true },
});

provider.listen(settings.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening at ${issuer}`);
});
