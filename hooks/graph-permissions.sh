#!/usr/bin/env bash
# azd postprovision hook: grant mfaops's managed identity its Microsoft Graph application permissions
# (bicep/graph-permissions.bicep). Needs Bicep >= 0.36.1 (the Graph extension) and a deployer who may grant
# app roles (Privileged Role Administrator, or Application Administrator with AppRoleAssignment.ReadWrite.All).
# It fails loudly: a deployment that reported success while every reset answers 403 is worse than a red hook.
set -euo pipefail
: "${AZURE_RESOURCE_GROUP:?azd did not set AZURE_RESOURCE_GROUP}"
: "${MFAOPS_IDENTITY_PRINCIPAL_ID:?azd did not set MFAOPS_IDENTITY_PRINCIPAL_ID (an output of bicep/main.bicep)}"
flags=()
[[ "${MFAOPS_ENABLE_MAIL_ALERTS:-false}" == "true" ]] && flags+=("enableMailAlerts=true")
[[ "${MFAOPS_ENABLE_POSTURE_FIX:-false}" == "true" ]] && flags+=("enablePostureFix=true")
if ! az deployment group create -g "$AZURE_RESOURCE_GROUP" -f bicep/graph-permissions.bicep \
    -p principalId="$MFAOPS_IDENTITY_PRINCIPAL_ID" "${flags[@]}" --only-show-errors >/dev/null; then
  echo "ERROR: the Microsoft Graph grants (bicep/graph-permissions.bicep) were NOT applied." >&2
  echo "       Every reset will answer 403 until a Privileged Role Administrator runs:" >&2
  echo "       az deployment group create -g $AZURE_RESOURCE_GROUP -f bicep/graph-permissions.bicep -p principalId=$MFAOPS_IDENTITY_PRINCIPAL_ID" >&2
  exit 1
fi
echo "Microsoft Graph grants applied; check them with: mfaops doctor"
