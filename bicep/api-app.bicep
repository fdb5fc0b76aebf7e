// The mfaops API's app registration: the audience of the Entra tokens that App Service Authentication checks in
// front of the operator routes, and the three app roles those routes demand (shared/identity/principal.py has
// the same values). Kept in a file of its own because Checkov cannot parse `extension` lines; needs Bicep
// >= 0.36.1 and a deployer who may create applications (Application Administrator or Application.ReadWrite.All).
// main.bicep deploys it as a module, before the site's authentication settings.
extension microsoftGraphV1

@description('azd environment name: makes the registration unique per environment.')
param environmentName string

@description('The Function App\'s host name: App Service Authentication\'s sign-in returns to it (the manager\'s page).')
param appHostName string

var appRoles = [
  {
    value: 'Jobs.Read'
    displayName: 'Read mfaops jobs'
    description: 'GET /api/jobs/{job_id}: the status and steps of a job.'
    id: guid('mfaops', environmentName, 'Jobs.Read')
  }
  {
    value: 'Tap.Retrieve'
    displayName: 'Retrieve a Temporary Access Pass once'
    description: 'GET /api/jobs/{job_id}/tap: the one-time retrieval of the TAP a reset issued.'
    id: guid('mfaops', environmentName, 'Tap.Retrieve')
  }
  {
    value: 'Jobs.Retry'
    displayName: 'Retry or approve mfaops jobs'
    description: 'POST /api/jobs/{job_id}/retry: approve a parked job or re-run a failed one.'
    id: guid('mfaops', environmentName, 'Jobs.Retry')
  }
  {
    value: 'Jobs.Verify'
    displayName: 'Attest a call-back for a reset'
    description: 'POST /api/jobs/{job_id}/verify/callback: the agent called the user back on the number on record.'
    id: guid('mfaops', environmentName, 'Jobs.Verify')
  }
]

resource api 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: 'mfaops-api-${environmentName}'
  displayName: 'mfaops API (${environmentName})'
  signInAudience: 'AzureADMyOrg'
  api: { requestedAccessTokenVersion: 2 }
  // A manager opens the approval page in a browser: App Service Authentication signs them in (no client secret:
  // the OpenID Connect implicit flow for the ID token) and returns here.
  web: {
    redirectUris: ['https://${appHostName}/.auth/login/aad/callback']
    implicitGrantSettings: { enableIdTokenIssuance: true }
  }
  appRoles: [for role in appRoles: {
    allowedMemberTypes: ['User', 'Application']
    description: role.description
    displayName: role.displayName
    id: role.id
    isEnabled: true
    value: role.value
  }]
}

resource apiPrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: api.appId
  // Any user of the tenant may sign in: a manager approving a reset holds no role (their object id is the check,
  // against the user's manager in the directory). Every operator route still demands its app role in code
  // (shared/identity/principal.py: 403 without it), so signing in alone grants nothing there.
  appRoleAssignmentRequired: false
}

output clientId string = api.appId
output appRoleIds object = {
  jobsRead: appRoles[0].id
  tapRetrieve: appRoles[1].id
  jobsRetry: appRoles[2].id
  jobsVerify: appRoles[3].id
}
