// Microsoft Graph application permissions for mfaops's managed identity: the minimal set, one per feature.
// Kept in a file of its own because Checkov cannot parse `extension` lines. Deploy it separately, as a
// Privileged Role Administrator (see the README):
//   az deployment group create -g <rg> -f bicep/graph-permissions.bicep -p principalId=<MFAOPS_IDENTITY_PRINCIPAL_ID>
extension microsoftGraphV1

@description('Object id of the mfaops user-assigned managed identity (deployment output MFAOPS_IDENTITY_PRINCIPAL_ID).')
param principalId string

@description('Grant what the detection and posture features read (audit log, risk, Conditional Access).')
param enableDetection bool = true

var graphAppId = '00000003-0000-0000-c000-000000000000'

@description('The verified_id proof: let mfaops create Verified ID presentation requests (the Request Service). Off unless VERIFY_POLICY uses verified_id.')
param enableVerifiedId bool = false

// "Verifiable Credentials Service Request", the Request Service's own service principal (verifiable-credentials-configure-tenant: grant its application permission VerifiableCredential.Create.PresentRequest).
var requestServiceAppId = '3db474b9-6a0c-4840-96ac-1fceb342124f'

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

var resetRoles = [
  'UserAuthenticationMethod.ReadWrite.All' // reset: list and delete methods, issue TAPs, read/set the default method
  'User.RevokeSessions.All' // reset: revoke sign-in sessions
  'Directory.Read.All' // reset: resolve users, their groups (break-glass) and directory roles (privileged)
  'Policy.Read.All' // reset and posture: the TAP policy; Conditional Access policies
]
var detectionRoles = [
  'AuditLog.Read.All' // detection: directory audits; registration details report
  'IdentityRiskEvent.Read.All' // detection: risk detections around a registration
  'IdentityRiskyUser.Read.All' // detection: risky users
]
@description('E-mail alerts through Graph sendMail (the monitor\'s mail sink). Off unless enabled.')
param enableMailAlerts bool = false

@description('Proof before reset asks the user\'s manager by mail (sendMail as ALERT_MAIL_FROM). On while VERIFY_POLICY uses the manager proof, as the built-in default does; confine Mail.Send to the sender mailbox (README).')
param enableManagerApproval bool = true

@description('Let `mfaops posture apply-registration-policy` create/update the registration CA policy. Off unless enabled.')
param enablePostureFix bool = false

@description('Let mfaops change legacy per-user MFA states (beta authentication/requirements). Off unless enabled.')
param enablePerUserMfaChange bool = false

var mailRoles = [
  'Mail.Send' // alerts and the manager's approval request: mail from the mfaops mailbox (user-sendmail)
]
var postureFixRoles = [
  'Policy.ReadWrite.ConditionalAccess' // posture fix: create/update the registration CA policy
]
var perUserMfaRoles = [
  'Policy.ReadWrite.AuthenticationMethod' // per-user MFA: PATCH authentication/requirements
]
var wanted = concat(resetRoles, enableDetection ? detectionRoles : [],
  enableMailAlerts || enableManagerApproval ? mailRoles : [],
  enablePostureFix ? postureFixRoles : [], enablePerUserMfaChange ? perUserMfaRoles : [])

resource requestService 'Microsoft.Graph/servicePrincipals@v1.0' existing = if (enableVerifiedId) {
  appId: requestServiceAppId
}

resource presentRequest 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (enableVerifiedId) {
  principalId: principalId
  resourceId: requestService.id
  appRoleId: filter(requestService.appRoles, r => r.value == 'VerifiableCredential.Create.PresentRequest')[0].id
}

resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for role in wanted: {
  principalId: principalId
  resourceId: graph.id
  appRoleId: filter(graph.appRoles, r => r.value == role)[0].id
}]
