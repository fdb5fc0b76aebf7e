// mfaops: everything but the Microsoft Graph grants (graph-permissions.bicep), at subscription scope so that
// `azd up` or `az deployment sub create` starts from an empty subscription.
targetScope = 'subscription'

@minLength(1)
@maxLength(20)
@description('Name of the environment (azd environment name); used in resource names.')
param environmentName string

@description('Azure region for every resource: one where Flex Consumption runs (az functionapp list-flexconsumption-locations).')
@allowed(['australiaeast', 'australiasoutheast', 'brazilsouth', 'canadacentral', 'centralindia', 'centralus'
  'eastasia', 'eastus', 'eastus2', 'francecentral', 'germanywestcentral', 'italynorth', 'japaneast', 'koreacentral'
  'northcentralus', 'northeurope', 'norwayeast', 'southafricanorth', 'southcentralus', 'southeastasia'
  'southindia', 'spaincentral', 'swedencentral', 'uaenorth', 'uksouth', 'ukwest', 'westcentralus', 'westeurope'
  'westus', 'westus2', 'westus3'])
param location string

@description('Storage redundancy: Standard_GZRS where the region has availability zones, Standard_GRS where not.')
@allowed(['Standard_GZRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_LRS'])
param storageSku string = 'Standard_GZRS'

@description('E-mail addresses the alert rules notify.')
param alertEmails array = []

@description('ServiceNow instance, e.g. https://contoso.service-now.com')
param servicenowInstanceUrl string

@description('ServiceNow integration user for the Table API.')
param servicenowUsername string

@secure()
@description('Password of the ServiceNow integration user (stored in Key Vault).')
param servicenowPassword string

@secure()
@description('Shared secret of the webhook HMAC (stored in Key Vault); the same secret goes into ServiceNow.')
param servicenowWebhookSecret string

@secure()
@description('Base64 AES-256 key sealing TAPs until their one-time retrieval: openssl rand -base64 32.')
param tapDropKey string

@secure()
@description('Random secret that ticket job ids are derived under (openssl rand -base64 32).')
param jobIdKey string

@secure()
@description('Key the registration monitor hashes phone numbers under (openssl rand -base64 32).')
param monitorPhoneHashKey string

@secure()
@description('Teams Workflows webhook URL for alerts; empty: no Teams sink.')
param teamsWebhookUrl string = ''

@description('Alert sinks: log, topic, teams, mail, servicenow (comma-separated).')
param alertSinks string = 'log,topic'

@secure()
@description('The api-key the Verified ID Request Service sends back on its callbacks (openssl rand -base64 32).')
param verifiedIdCallbackKey string

@description('The Verified ID verifier DID of the tenant (VERIFIED_ID_AUTHORITY); empty: the verified_id proof is not configured.')
param verifiedIdAuthority string = ''

@description('Comma-separated UPNs mfaops must never touch.')
param breakGlassUpns string = ''

@description('Group (object id or display name) whose members mfaops must never touch.')
param breakGlassGroup string = ''

@description('Blast-radius limit: resets admitted per rolling hour.')
param resetsPerHourLimit int = 20

@description('Ticket state set when a reset succeeds (empty: leave it).')
param servicenowSuccessState string = ''

var tags = { 'azd-env-name': environmentName, application: 'mfaops' }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-mfaops-${environmentName}'
  location: location
  tags: tags
}

// The API's app registration (Graph Bicep extension): the audience and app roles of the operator routes.
module apiApp 'api-app.bicep' = {
  name: 'mfaops-api-app'
  scope: rg
  params: {
    environmentName: environmentName
    // The site's default host name, as resources.bicep names the site ('func-mfaops-' + the same token).
    appHostName: 'func-mfaops-${toLower(uniqueString(subscription().id, rg.id, environmentName))}.azurewebsites.net'
  }
}

module resources 'resources.bicep' = {
  name: 'mfaops-resources'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    servicenowInstanceUrl: servicenowInstanceUrl
    servicenowUsername: servicenowUsername
    servicenowPassword: servicenowPassword
    servicenowWebhookSecret: servicenowWebhookSecret
    tapDropKey: tapDropKey
    breakGlassUpns: breakGlassUpns
    breakGlassGroup: breakGlassGroup
    resetsPerHourLimit: resetsPerHourLimit
    servicenowSuccessState: servicenowSuccessState
    apiClientId: apiApp.outputs.clientId
    jobIdKey: jobIdKey
    monitorPhoneHashKey: monitorPhoneHashKey
    teamsWebhookUrl: teamsWebhookUrl
    verifiedIdCallbackKey: verifiedIdCallbackKey
    verifiedIdAuthority: verifiedIdAuthority
    alertSinks: alertSinks
    storageSku: storageSku
    alertEmails: alertEmails
  }
}

output AZURE_RESOURCE_GROUP string = rg.name
output MFAOPS_API_CLIENT_ID string = apiApp.outputs.clientId
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output MFAOPS_IDENTITY_PRINCIPAL_ID string = resources.outputs.identityPrincipalId
output WEBHOOK_URL string = resources.outputs.webhookUrl
