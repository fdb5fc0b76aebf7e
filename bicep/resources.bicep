// mfaops resources in one resource group. Identity-based connections only: no connection strings or keys.
param environmentName string
param location string
param tags object
param servicenowInstanceUrl string
param servicenowUsername string
@secure()
param servicenowPassword string
@secure()
param servicenowWebhookSecret string
@secure()
param tapDropKey string
param breakGlassUpns string
param breakGlassGroup string
param resetsPerHourLimit int
param servicenowSuccessState string
@description('Client id of the mfaops API app registration (api-app.bicep): the audience App Service Authentication checks.')
param apiClientId string
@secure()
param jobIdKey string
@secure()
@description('Key the monitor hashes phone numbers under (openssl rand -base64 32).')
param monitorPhoneHashKey string
@secure()
@description('Teams Workflows webhook URL for alerts (holds its signature); empty: no Teams sink.')
param teamsWebhookUrl string = ''
@description('Alert sinks: log, topic, teams, mail, servicenow (comma-separated).')
param alertSinks string = 'log,topic'
@secure()
@description('The api-key the Verified ID Request Service sends back on its callbacks (mfaops hands it over in each request).')
param verifiedIdCallbackKey string
@description('The Verified ID verifier DID of the tenant (VERIFIED_ID_AUTHORITY); empty: the verified_id proof is not configured.')
param verifiedIdAuthority string = ''

@description('Graph identity-and-access resource units per window, e.g. 8000/10; empty: taken from the tenant size (a count of users a day: 3500/10 under 50 users, 5000/10 up to 500, 8000/10 above).')
param graphBudgetIdentity string = ''

@description('Storage redundancy: GZRS where the region has zones; GRS (or LRS) in a region without them.')
@allowed(['Standard_GZRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_LRS'])
param storageSku string = 'Standard_GZRS'

@description('E-mail addresses the alert rules notify (the action group); empty: the rules fire into the portal only.')
param alertEmails array = []

@description('Flex Consumption instance memory and scale-out ceiling.')
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 40

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var jobsTable = 'mfaopsjobs'
var monitorTable = 'mfaopsmonitor'
var postureTable = 'mfaopsposture'
var jobsByUserTable = 'mfaopsjobsbyuser'
var resetQueue = 'mfaops-reset'
var deploymentContainer = 'app-package'

// Role definition ids (built-in roles).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-mfaops-${token}'
  location: location
  tags: tags
}

// ---- Monitoring ---------------------------------------------------------------------------------------
resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-mfaops-${token}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 90
    features: { disableLocalAuth: true }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-mfaops-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

// ---- Storage: the Functions host, the deployment package, the job tables -------------------------------
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Flex Consumption without VNet integration reaches its storage over the public endpoint; access is Entra-only (shared key off). Deny plus private endpoints once the app joins a VNet.
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35; blob public access is off.
  // checkov:skip=CKV_AZURE_43: the name is 'stmfaops' + uniqueString(), 21 lowercase alphanumerics, which Checkov cannot evaluate.
  name: 'stmfaops${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: storageSku }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // the host, the deployment and the app all use the managed identity
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
  properties: { publicAccess: 'None' }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource jobsTableResource 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: jobsTable
}

resource jobsByUserTableResource 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: jobsByUserTable
}

resource monitorTableResource 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: monitorTable
}

resource postureTableResource 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: postureTable
}

// ---- Service Bus: the reset queue and the alerts topic ------------------------------------------------
resource bus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: 'sb-mfaops-${token}'
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  identity: { type: 'SystemAssigned' }
  properties: {
    minimumTlsVersion: '1.2'
    disableLocalAuth: true // Entra ID only: no SAS keys
    publicNetworkAccess: 'Enabled'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: bus
  name: resetQueue
  properties: {
    requiresSession: true // one reset per user at a time
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D' // ServiceNow retries a webhook for up to a day
    maxDeliveryCount: 5
    lockDuration: 'PT5M'
    defaultMessageTimeToLive: 'P7D'
    deadLetteringOnMessageExpiration: true
  }
}

resource alertsTopic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: bus
  name: 'mfaops-alerts'
  properties: {
    defaultMessageTimeToLive: 'P14D'
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
  }
}

// A subscription from the start: a topic drops messages nobody subscribed to. The SIEM (or a Logic App) reads here.
resource siemSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: alertsTopic
  name: 'siem'
  properties: {
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    lockDuration: 'PT1M'
  }
}

// ---- Key Vault: the ServiceNow secrets and the TAP drop key -------------------------------------------
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Key Vault references from a Flex Consumption app without VNet integration need the public endpoint; access is RBAC-only for one identity.
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109.
  name: 'kv-mfaops-${take(token, 13)}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enablePurgeProtection: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource webhookSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'servicenow-webhook-secret'
  properties: { value: servicenowWebhookSecret, contentType: 'text/plain', attributes: { exp: 1893456000 } }
}

resource servicenowPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'servicenow-password'
  properties: { value: servicenowPassword, contentType: 'text/plain', attributes: { exp: 1893456000 } }
}

resource phoneHashKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: a fixed expiry would silently break the shared-phone rule's history; rotate by hand.
  parent: vault
  name: 'monitor-phone-hash-key'
  properties: { value: monitorPhoneHashKey, contentType: 'text/plain' }
}

resource teamsWebhookSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: the Teams workflow URL lives as long as the workflow; an expiry would drop alerts.
  parent: vault
  name: 'teams-webhook-url'
  properties: { value: empty(teamsWebhookUrl) ? 'unset' : teamsWebhookUrl, contentType: 'text/plain' }
}

resource jobIdKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: a fixed expiry would silently break every ticket's job id; rotate it by hand (README).
  parent: vault
  name: 'job-id-key'
  properties: { value: jobIdKey, contentType: 'text/plain' }
}

resource verifiedIdCallbackKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'verified-id-callback-key'
  properties: { value: verifiedIdCallbackKey, contentType: 'text/plain', attributes: { exp: 1893456000 } }
}

resource tapDropKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'tap-drop-key'
  properties: { value: tapDropKey, contentType: 'text/plain', attributes: { exp: 1893456000 } }
}

// ---- Function App (Flex Consumption, Python 3.11) ----------------------------------------------------
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy exists only in some regions; turn it on where the region offers it.
  name: 'plan-mfaops-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: ServiceNow calls the webhook from the internet; requests are authenticated by function key and HMAC signature.
  // checkov:skip=CKV_AZURE_17: ServiceNow authenticates with a function key and an HMAC signature, not a client certificate.
  // checkov:skip=CKV_AZURE_212: an event-driven Flex Consumption app scales from zero; Service Bus keeps work while no instance runs.
  // checkov:skip=CKV_AZURE_213: Flex Consumption has no health-check path setting; the platform restarts failed instances.
  name: 'func-mfaops-${token}'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertMode: 'Optional'
    keyVaultReferenceIdentity: identity.id
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: { instanceMemoryMB: instanceMemoryMB, maximumInstanceCount: maximumInstanceCount }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // The Functions host and its triggers, all through the user-assigned identity.
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'ServiceBusConnection__credential', value: 'managedidentity' }
        { name: 'ServiceBusConnection__clientId', value: identity.properties.clientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        // mfaops settings (shared/settings.py; every one documented in the README).
        { name: 'TABLE_SERVICE_URL', value: storage.properties.primaryEndpoints.table }
        { name: 'TABLE_CONNECTION_STRING', value: '' }
        { name: 'JOBS_TABLE', value: jobsTable }
        { name: 'JOBS_BY_USER_TABLE', value: jobsByUserTable }
        { name: 'JOB_UPDATE_RETRIES', value: '8' }
        { name: 'JOB_ID_KEY', value: '@Microsoft.KeyVault(SecretUri=${jobIdKeySecret.properties.secretUri})' }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
        { name: 'GRAPH_BASE_URL', value: 'https://graph.microsoft.com' }
        { name: 'GRAPH_AUTH', value: 'managed_identity' }
        { name: 'GRAPH_MAX_RETRIES', value: '3' }
        { name: 'GRAPH_RETRY_AFTER_CAP_S', value: '30' }
        { name: 'GRAPH_BUDGET_ENABLED', value: 'true' }
        { name: 'GRAPH_BUDGET_IDENTITY', value: graphBudgetIdentity }
        { name: 'GRAPH_BUDGET_WRITES', value: '3000/150' }
        { name: 'GRAPH_BUDGET_REPORTS', value: '5/10' }
        { name: 'GRAPH_BUDGET_PROTECTION', value: '1/1' }
        { name: 'GRAPH_BUDGET_SHARED', value: 'true' }
        { name: 'GRAPH_BUDGET_MAX_WAIT_S', value: '120' }
        { name: 'GRAPH_BUDGET_TIME_SCALE', value: '1' }
        { name: 'GRAPH_BACKGROUND_SHARE', value: '0.6' }
        { name: 'SERVICENOW_WEBHOOK_SECRET', value: '@Microsoft.KeyVault(SecretUri=${webhookSecret.properties.secretUri})' }
        { name: 'SERVICENOW_INSTANCE_URL', value: servicenowInstanceUrl }
        { name: 'SERVICENOW_USERNAME', value: servicenowUsername }
        { name: 'SERVICENOW_PASSWORD', value: '@Microsoft.KeyVault(SecretUri=${servicenowPasswordSecret.properties.secretUri})' }
        { name: 'SERVICENOW_ACCEPTED_APPROVALS', value: 'approved' }
        { name: 'SERVICENOW_SUCCESS_STATE', value: servicenowSuccessState }
        { name: 'WEBHOOK_MAX_SKEW_S', value: '300' }
        { name: 'BREAK_GLASS_UPNS', value: breakGlassUpns }
        { name: 'BREAK_GLASS_GROUP', value: breakGlassGroup }
        { name: 'PRIVILEGED_ROLES', value: '*' }
        { name: 'PRIVILEGED_APPROVAL_FIELD', value: 'u_mfa_privileged_approval' }
        { name: 'RESETS_PER_HOUR_LIMIT', value: string(resetsPerHourLimit) }
        { name: 'ALLOW_GUEST_RESET', value: 'false' }
        { name: 'ALLOW_DISABLED_RESET', value: 'false' }
        { name: 'RESET_COOLDOWN_MINUTES', value: '60' }
        { name: 'DEFAULT_REVOKE_SESSIONS', value: 'true' }
        { name: 'DEFAULT_ISSUE_TAP', value: 'true' }
        { name: 'TAP_LIFETIME_MINUTES', value: '0' }
        { name: 'TAP_USABLE_ONCE', value: 'true' }
        { name: 'TAP_DROP_KEY', value: '@Microsoft.KeyVault(SecretUri=${tapDropKeySecret.properties.secretUri})' }
        { name: 'TAP_SWEEP_SCHEDULE', value: '0 */15 * * * *' }
        { name: 'TAP_MAX_AGE_HOURS', value: '24' }
        { name: 'TAP_ALLOW_MULTI_USE', value: 'true' }
        { name: 'TAP_SWEEP_EXEMPT_GROUP', value: '' }
        { name: 'CLEANUP_SCHEDULE', value: '0 0 3 * * *' }
        { name: 'CLEANUP_POLICY', value: '' }
        { name: 'INVENTORY_SCHEDULE', value: '0 */10 * * * *' }
        { name: 'INVENTORY_TABLE', value: 'mfaopsinventory' }
        { name: 'INVENTORY_BATCH_USERS', value: '200' }
        { name: 'INVENTORY_RETENTION_DAYS', value: '30' }
        { name: 'INVENTORY_RECHECK_DAYS', value: '30' }
        { name: 'INVENTORY_PASS_MINUTES', value: '360' }
        { name: 'INVENTORY_RUN_SECONDS', value: '480' }
        { name: 'CLEANUP_APPLY', value: 'false' }
        { name: 'RESET_QUEUE', value: resetQueue }
        { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: '${bus.name}.servicebus.windows.net' }
        { name: 'QUEUE_BACKOFF_BASE_S', value: '30' }
        { name: 'QUEUE_BACKOFF_MAX_S', value: '900' }
        { name: 'QUEUE_MAX_DELIVERIES', value: string(queue.properties.maxDeliveryCount) }
        { name: 'ALERTS_TOPIC', value: alertsTopic.name }
        { name: 'STUCK_JOBS_SCHEDULE', value: '0 */10 * * * *' }
        { name: 'JOB_STUCK_MINUTES', value: '60' }
        { name: 'MONITOR_SCHEDULE', value: '0 */5 * * * *' }
        { name: 'MONITOR_TABLE', value: monitorTable }
        { name: 'MONITOR_FIRST_LOOKBACK_HOURS', value: '24' }
        { name: 'MONITOR_PAGE_SIZE', value: '999' }
        { name: 'MONITOR_OVERLAP_MINUTES', value: '15' }
        { name: 'MONITOR_WATCHLIST_GROUP', value: '' }
        { name: 'TRUSTED_IP_RANGES', value: '' }
        { name: 'ALLOWED_PHONE_COUNTRY_CODES', value: '' }
        { name: 'REREGISTRATION_EXPECTED_HOURS', value: '24' }
        { name: 'MONITOR_RISK_WINDOW_HOURS', value: '2' }
        { name: 'MONITOR_ADMIN_RISK_WINDOW_HOURS', value: '4' }
        { name: 'MONITOR_SIGNIN_BASELINE_DAYS', value: '30' }
        { name: 'MONITOR_SSPR_WINDOW_HOURS', value: '4' }
        { name: 'MONITOR_BURST_THRESHOLD', value: '5' }
        { name: 'MONITOR_BURST_WINDOW_MINUTES', value: '60' }
        { name: 'MONITOR_ACTOR_THRESHOLD', value: '5' }
        { name: 'MONITOR_ACTOR_WINDOW_MINUTES', value: '60' }
        { name: 'MONITOR_SHARED_PHONE_USERS', value: '2' }
        { name: 'MONITOR_TICKET_WINDOW_HOURS', value: '24' }
        { name: 'MONITOR_EXPECTED', value: 'suppress' }
        { name: 'MONITOR_CONTAIN', value: '' }
        { name: 'MONITOR_PHONE_HASH_KEY', value: '@Microsoft.KeyVault(SecretUri=${phoneHashKeySecret.properties.secretUri})' }
        { name: 'MFAOPS_APP_ID', value: identity.properties.clientId }
        { name: 'POSTURE_SCHEDULE', value: '0 30 6 * * *' }
        { name: 'POSTURE_TABLE', value: postureTable }
        { name: 'MAX_PRIVILEGED_AUTH_ADMINS', value: '5' }
        { name: 'POSTURE_PER_USER_MFA_MAX_USERS', value: '50' }
        { name: 'POSTURE_OPEN_METHODS', value: 'Fido2,MicrosoftAuthenticator,TemporaryAccessPass,X509Certificate' }
        { name: 'POSTURE_ALLOW_FIX', value: 'false' }
        { name: 'REGISTRATION_POLICY_NAME', value: 'mfaops: protect security info registration' }
        { name: 'ALERT_SINKS', value: alertSinks }
        { name: 'ALERT_MIN_SEVERITY', value: 'medium' }
        { name: 'TEAMS_WEBHOOK_URL', value: '@Microsoft.KeyVault(SecretUri=${teamsWebhookSecret.properties.secretUri})' }
        { name: 'VERIFY_POLICY', value: '' }
        { name: 'VERIFY_FAILURES_ALERT', value: '2' }
        { name: 'VERIFY_ON_FAILURE', value: 'none' }
        { name: 'APP_BASE_URL', value: '' }
        { name: 'VERIFIED_ID_ENDPOINT', value: 'https://verifiedid.did.msidentity.com' }
        { name: 'VERIFIED_ID_AUTHORITY', value: verifiedIdAuthority }
        { name: 'VERIFIED_ID_CREDENTIAL_TYPE', value: 'VerifiedEmployee' }
        { name: 'VERIFIED_ID_ACCEPTED_ISSUERS', value: '' }
        { name: 'VERIFIED_ID_FACECHECK_THRESHOLD', value: '70' }
        { name: 'VERIFIED_ID_CALLBACK_KEY', value: '@Microsoft.KeyVault(SecretUri=${verifiedIdCallbackKeySecret.properties.secretUri})' }
        { name: 'VERIFIED_ID_MIN_CREDENTIAL_AGE_DAYS', value: '7' }
        { name: 'VERIFY_LINK_MINUTES', value: '10' }
        { name: 'SELF_SERVICE_RECOVERY', value: 'false' }
        { name: 'ALERT_MAIL_FROM', value: '' }
        { name: 'ALERT_MAIL_TO', value: '' }
        { name: 'ALERT_SERVICENOW_TABLE', value: 'incident' }
        { name: 'ALERT_SERVICENOW_GROUP', value: '' }
        { name: 'ALERT_ATTEMPTS', value: '3' }
        { name: 'LOG_LEVEL', value: 'INFO' }
      ]
    }
  }
  // The roles first: a first start that raced them would read Key Vault references as literal strings.
  dependsOn: [packageContainer, jobsTableResource, jobsByUserTableResource, monitorTableResource, postureTableResource
    blobOwner, tableContributor, busSender, busReceiver, busOwner, vaultSecretsUser, metricsPublisher]
}

// App Service Authentication in front of every route but the signed webhook: the platform validates the Entra
// token, answers 401 without one, strips client-sent X-MS-CLIENT-PRINCIPAL headers and sets its own, which the
// operator routes read (shared/identity/principal.py) and check for their app role.
resource siteAuth 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: this resource is the authentication (authsettingsV2: platform.enabled, requireAuthentication); Checkov only reads v1's siteAuthEnabled.
  // checkov:skip=CKV_AZURE_63: Checkov reads every sites/config child as a siteConfig; HTTP logging is a site setting, not an auth setting.
  // checkov:skip=CKV_AZURE_65: as above: detailed errors are a site setting, not part of authsettingsV2.
  // checkov:skip=CKV_AZURE_66: as above: failed request tracing is a site setting, not part of authsettingsV2.
  // checkov:skip=CKV_AZURE_80: as above, and the app runs Python, not .NET Framework.
  // checkov:skip=CKV_AZURE_88: as above, and a Flex Consumption app keeps no content on Azure Files.
  // checkov:skip=CKV_AZURE_222: ServiceNow calls the webhook from the internet (the site's own skip says why).
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      // ServiceNow holds no Entra token: function key + HMAC signature authenticate the webhook. The manager's
      // approval page answers an anonymous browser itself (a redirect to /.auth/login/aad), so a link in a mail
      // works; its decision and TAP routes need the signed-in manager (the principal header, 401 without one). The
      // user page and the Request Service callback are public too (the user cannot sign in; the callback has a key).
      excludedPaths: ['/api/itsm/servicenow', '/api/verify/manager/*', '/api/public/*']
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: { allowedAudiences: [apiClientId, 'api://${apiClientId}'] }
      }
    }
    login: { tokenStore: { enabled: false } }
  }
}

// ---- Role assignments: data-plane roles only, each for one reason ------------------------------------
// The host keeps leases and the deployment package in blobs.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The job store: read and write job rows, the by-user index and the sealed TAP drop.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The webhook enqueues resets and the app publishes alerts on the topic.
resource busSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: bus
  name: guid(bus.id, identity.id, roles.serviceBusDataSender)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The worker and the dead-letter function receive from the reset queue.
resource busReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: queue
  name: guid(queue.id, identity.id, roles.serviceBusDataReceiver)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Flex Consumption scales the Service Bus trigger by reading the queue's length: the docs (and Microsoft's own
// Flex samples) give the identity Azure Service Bus Data Owner at queue scope for that.
resource busOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: queue
  name: guid(queue.id, identity.id, roles.serviceBusDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault references in app settings resolve with the identity.
resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry to Application Insights with local auth off needs an Entra-authenticated publisher.
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---- Diagnostics: who read which secret, the bus's and the tables' operations, to Log Analytics -----------
resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: vault
  name: 'to-log-analytics'
  properties: {
    workspaceId: logs.id
    logs: [{ category: 'AuditEvent', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

resource busDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: bus
  name: 'to-log-analytics'
  properties: {
    workspaceId: logs.id
    logs: [{ categoryGroup: 'allLogs', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: tableService
  name: 'to-log-analytics'
  properties: {
    workspaceId: logs.id
    logs: [{ category: 'StorageRead', enabled: true }, { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }]
    metrics: [{ category: 'Transaction', enabled: true }]
  }
}

// ---- Alert rules: what an identity team must hear about -------------------------------------------------
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-mfaops-${take(token, 8)}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'mfaops'
    enabled: true
    emailReceivers: [for (address, i) in alertEmails: { name: 'email${i}', emailAddress: address, useCommonAlertSchema: true }]
  }
}

var alertRules = loadJsonContent('alerts/rules.json')

resource rules 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in alertRules: {
  name: 'mfaops-${rule.name}'
  location: location
  tags: tags
  properties: {
    displayName: 'mfaops: ${rule.title}'
    description: rule.meaning
    severity: rule.severity
    enabled: true
    scopes: [insights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [{ query: rule.query, timeAggregation: 'Count', operator: 'GreaterThan', threshold: 0
        failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 } }]
    }
    actions: { actionGroups: [actionGroup.id] }
  }
}]

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'mfaops-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'mfaops operations'
    category: 'workbook'
    sourceId: insights.id
    serializedData: loadTextContent('workbooks/operations.json')
  }
}

output functionAppName string = site.name
output identityPrincipalId string = identity.properties.principalId
output webhookUrl string = 'https://${site.properties.defaultHostName}/api/itsm/servicenow'
