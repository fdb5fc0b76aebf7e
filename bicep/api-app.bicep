// The mfaops API's app registration: the audience of the Entra tokens that App Service Authentication checks in
// front of the operator routes, and the three app roles those routes demand (shared/identity/principal.py has
// the same values). Kept in a file of its own because Checkov cannot parse `extension` lines; needs Bicep
// >= 0.36.1 and a deployer who may create applications (Application Administrator or Application.ReadWrite.All).
// main.bicep deploys it as a module, before the site's authentication settings.
extension microsoftGraphV1

@description('azd environment name: makes the registration unique per environment.')
param environmentName string

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
]

resource api 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: 'mfaops-api-${environmentName}'
  displayName: 'mfaops API (${environmentName})'
  signInAudience: 'AzureADMyOrg'
  api: { requestedAccessTokenVersion: 2 }
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
  // Only users and apps assigned one of the roles get a token for the API at all.
  appRoleAssignmentRequired: true
}

output clientId string = api.appId
output appRoleIds object = {
  jobsRead: appRoles[0].id
  tapRetrieve: appRoles[1].id
  jobsRetry: appRoles[2].id
}
