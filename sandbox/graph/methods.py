"""Authentication method types: tenant-file names, Graph @odata.type, URL segments, report vocabulary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodType:
    name: str  # as in the tenant file and mfaops's job record
    odata: str  # '#microsoft.graph.' + this
    segment: str | None  # /users/{id}/authentication/{segment}/{methodId}; None: no DELETE
    report: str  # userRegistrationDetails.methodsRegistered vocabulary
    mfa: bool  # counts as an MFA method for isMfaRegistered
    passwordless: bool = False
    versions: tuple[str, ...] = ("v1.0", "beta")  # the API versions that document (list, get, delete) it


TYPES: dict[str, MethodType] = {t.name: t for t in (
    MethodType("password", "passwordAuthenticationMethod", None, "", False),
    MethodType("phone", "phoneAuthenticationMethod", "phoneMethods", "mobilePhone", True),
    MethodType("microsoftAuthenticator", "microsoftAuthenticatorAuthenticationMethod",
               "microsoftAuthenticatorMethods", "microsoftAuthenticatorPush", True, True),
    # methodsRegistered: current tenants name FIDO2 keys and passkeys with the beta usageAuthMethod names
    # (passKeyDeviceBound, fido2SecurityKey, ...): the older "fido2" of the v1.0 page's example is not answered.
    # A tenant file's method may say which ("registeredAs"); a FIDO2 method is a device-bound passkey by default.
    MethodType("fido2", "fido2AuthenticationMethod", "fido2Methods", "passKeyDeviceBound", True, True),
    MethodType("email", "emailAuthenticationMethod", "emailMethods", "email", False),
    MethodType("softwareOath", "softwareOathAuthenticationMethod", "softwareOathMethods",
               "softwareOneTimePasscode", True),
    MethodType("temporaryAccessPass", "temporaryAccessPassAuthenticationMethod", "temporaryAccessPassMethods",
               "temporaryAccessPass", False),
    MethodType("windowsHelloForBusiness", "windowsHelloForBusinessAuthenticationMethod",
               "windowsHelloForBusinessMethods", "windowsHelloForBusiness", True, True),
    MethodType("platformCredential", "platformCredentialAuthenticationMethod", "platformCredentialMethods",
               "macOsSecureEnclaveKey", True, True),
    MethodType("externalAuthenticationMethod", "externalAuthenticationMethod", "externalAuthenticationMethods",
               "externalAuthMethod", True),
    MethodType("qrCodePin", "qrCodePinAuthenticationMethod", None, "qrCode", False),
    # Hardware OATH tokens exist in beta only (hardwareOathAuthenticationMethod: list, get, and a DELETE that
    # "removes the user assignment; the token stays in the directory"); v1.0 neither lists nor deletes them.
    MethodType("hardwareOath", "hardwareOathAuthenticationMethod", "hardwareOathMethods", "hardwareOneTimePasscode",
               True, versions=("beta",)),
)}
BY_SEGMENT = {t.segment: t for t in TYPES.values() if t.segment}

PASSWORD_ID = "28c10230-6103-485e-b985-444c60001490"  # noqa: S105 - a fixed Graph id, not a secret
EMAIL_ID = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"
PHONE_IDS = {
    "mobile": "3179e48a-750b-4051-897c-87b9720928f7",
    "alternateMobile": "b6332ec1-7057-4abe-9331-3d72feddfe41",
    "office": "e37fc753-ff3b-4958-9484-eaa9425c82bc",
}
PHONE_REPORT = {"mobile": "mobilePhone", "alternateMobile": "alternateMobilePhone", "office": "officePhone"}

# userPreferredMethodForSecondaryAuthentication -> which method it names (type, phoneType or None).
# shared/reset/plan.py holds the same Graph fact; the simulator keeps its own copy on purpose, so that it stays an
# independent model of Graph and a wrong table in mfaops shows up as a failing test instead of agreeing with it.
DEFAULT_TARGETS: dict[str, tuple[str, str | None]] = {
    "push": ("microsoftAuthenticator", None),
    "oath": ("softwareOath", None),
    "sms": ("phone", "mobile"),
    "voiceMobile": ("phone", "mobile"),
    "voiceAlternateMobile": ("phone", "alternateMobile"),
    "voiceOffice": ("phone", "office"),
}

# Text Entra writes in audit resultReason for a registered method.
REGISTER_TEXT = {
    "phone": "Mobile Phone SMS",
    "microsoftAuthenticator": "Authenticator App with Notification and Code",
    "fido2": "FIDO2 security key",
    "email": "Email",
    "softwareOath": "Software OATH token",
    "temporaryAccessPass": "temporary access pass",
    "windowsHelloForBusiness": "Windows Hello for Business",
    "platformCredential": "Platform Credential",
    "externalAuthenticationMethod": "External authentication method",
    "qrCodePin": "QR code PIN",
    "hardwareOath": "Hardware OATH token",
}

# Legacy StrongAuthenticationMethod MethodType numbers written by Core Directory "Update user".
STRONG_AUTH_TYPES = {"sms": 1, "voiceMobile": 0, "voiceOffice": 2, "voiceAlternateMobile": 3, "push": 6, "oath": 7}

ROLE_TEMPLATES = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "Authentication Administrator": "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "Conditional Access Administrator": "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "SharePoint Administrator": "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "Security Reader": "5d6b6bb7-de71-4623-b4af-96380a352509",
}
