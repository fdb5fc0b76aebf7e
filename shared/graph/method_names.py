"""Every spelling Graph uses for a registered method, and the method resource it names: the one table cleanup,
the TAP sweep, detection and posture read (issue 24).

``methodsRegistered`` (userRegistrationDetails) and the audit log name methods in the ``usageAuthMethod`` /
``methodsRegistered`` vocabulary; the methods themselves are resources (``phoneAuthenticationMethod``...). The v1.0
userRegistrationDetails page still gives ``fido2`` as an example; the beta page and the beta enum name FIDO2 keys
and passkeys ``fido2SecurityKey``, ``passKeyDeviceBound``, ``passKeyDeviceBoundAuthenticator``,
``passKeyDeviceBoundWindowsHello``, ``passKeySynced``, and also ``hardwareOneTimePasscode``, ``externalAuthMethod``
and ``qrCode`` (some only with ``Prefer: include-unknown-enum-members``); current tenants answer with the newer
names. A query that names a method covers every spelling of it (``spellings``).

Phishing resistance is decided here once, per name, each with its source:
- FIDO2 security keys and every passkey (device-bound, in Authenticator, in Windows Hello, synced): "Passkeys
  (FIDO2)" in "Authentication methods in Microsoft Entra ID" lists them as phishing-resistant; synced passkeys
  too ("Enable passkeys (FIDO2)... synced passkeys", phishing-resistant by origin binding).
- Windows Hello for Business and the macOS platform credential (``macOsSecureEnclaveKey``,
  ``platformCredential``): the same page's phishing-resistant column and "Platform SSO for macOS".
- Certificate-based authentication is phishing-resistant but is not a user-registered method here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MethodName:
    name: str  # the methodsRegistered / usageAuthMethod spelling
    resource: str  # the @odata.type suffix of the method resource
    phone_type: str | None = None  # for phoneAuthenticationMethod: mobile, alternateMobile, office
    phishing_resistant: bool = False
    deletable: bool = True  # some Graph API removes it (hardware OATH: beta, the assignment)
    note: str = ""  # where an admin removes it when Graph cannot


_PHONE = "phoneAuthenticationMethod"
_FIDO2 = "fido2AuthenticationMethod"
NAMES: dict[str, MethodName] = {m.name: m for m in (
    MethodName("mobilePhone", _PHONE, "mobile"),
    MethodName("alternateMobilePhone", _PHONE, "alternateMobile"),
    MethodName("officePhone", _PHONE, "office"),
    MethodName("email", "emailAuthenticationMethod"),
    MethodName("microsoftAuthenticatorPush", "microsoftAuthenticatorAuthenticationMethod"),
    MethodName("microsoftAuthenticatorPasswordless", "microsoftAuthenticatorAuthenticationMethod"),
    MethodName("softwareOneTimePasscode", "softwareOathAuthenticationMethod"),
    # Beta: DELETE /users/{id}/authentication/hardwareOathMethods/{id} removes the assignment (the token stays).
    MethodName("hardwareOneTimePasscode", "hardwareOathAuthenticationMethod"),
    MethodName("fido2", _FIDO2, phishing_resistant=True),  # the v1.0 page's older spelling
    MethodName("fido2SecurityKey", _FIDO2, phishing_resistant=True),
    MethodName("passKeyDeviceBound", _FIDO2, phishing_resistant=True),
    MethodName("passKeyDeviceBoundAuthenticator", _FIDO2, phishing_resistant=True),
    MethodName("passKeyDeviceBoundWindowsHello", _FIDO2, phishing_resistant=True),
    MethodName("passKeySynced", _FIDO2, phishing_resistant=True),
    MethodName("windowsHelloForBusiness", "windowsHelloForBusinessAuthenticationMethod", phishing_resistant=True),
    MethodName("macOsSecureEnclaveKey", "platformCredentialAuthenticationMethod", phishing_resistant=True),
    MethodName("platformCredential", "platformCredentialAuthenticationMethod", phishing_resistant=True),
    MethodName("temporaryAccessPass", "temporaryAccessPassAuthenticationMethod"),
    # externalauthenticationmethod-delete: DELETE .../externalAuthenticationMethods/{id}/$ref.
    MethodName("externalAuthMethod", "externalAuthenticationMethod"),
    MethodName("qrCode", "qrCodePinAuthenticationMethod", deletable=False,
               note="a QR code is removed in Entra admin center > Users > Authentication methods"),
    MethodName("qrCodePin", "qrCodePinAuthenticationMethod", deletable=False,
               note="a QR code is removed in Entra admin center > Users > Authentication methods"),
    MethodName("password", "passwordAuthenticationMethod", deletable=False,
               note="a password is reset, never removed (Entra admin center > Users > Reset password)"),
    MethodName("appPassword", "", deletable=False,
               note="app passwords are removed by the user in My Sign-Ins (Security info), or by disabling "
                    "per-user MFA app passwords in the legacy MFA service settings"),
    MethodName("securityQuestion", "", deletable=False,
               note="security questions are removed by turning them off in the SSPR / authentication methods "
                    "policy"),
)}

# @odata.type suffix of a method resource -> mfaops's word for it (the tenant file's and the job record's).
METHOD_TYPES: dict[str, str] = {
    "phoneAuthenticationMethod": "phone", "emailAuthenticationMethod": "email",
    "fido2AuthenticationMethod": "fido2", "microsoftAuthenticatorAuthenticationMethod": "microsoftAuthenticator",
    "softwareOathAuthenticationMethod": "softwareOath",
    "temporaryAccessPassAuthenticationMethod": "temporaryAccessPass",
    "windowsHelloForBusinessAuthenticationMethod": "windowsHelloForBusiness",
    "platformCredentialAuthenticationMethod": "platformCredential",
    "externalAuthenticationMethod": "externalAuthenticationMethod",
    "qrCodePinAuthenticationMethod": "qrCodePin", "passwordAuthenticationMethod": "password",
    "hardwareOathAuthenticationMethod": "hardwareOath",
}
# methodsRegistered name -> (mfaops method type, phone type): what a registration event added, as listed.
LISTED_AS: dict[str, tuple[str, str | None]] = {n.name: (METHOD_TYPES[n.resource], n.phone_type)
                                                for n in NAMES.values() if n.resource in METHOD_TYPES}
PHISHING_RESISTANT = frozenset(n.name for n in NAMES.values() if n.phishing_resistant)
PHISHING_RESISTANT_RESOURCES = frozenset(n.resource for n in NAMES.values() if n.phishing_resistant)
PHISHING_RESISTANT_TYPES = frozenset(METHOD_TYPES[r] for r in PHISHING_RESISTANT_RESOURCES)


def spellings(name: str) -> list[str]:
    """Every name that stands for the same method as ``name`` (a FIDO2 query asks for all passkey names)."""
    known = NAMES.get(name)
    if known is None:
        return [name]
    return [n.name for n in NAMES.values() if n.resource == known.resource and n.phone_type == known.phone_type
            and n.resource]


def name_of(resource: str, phone_type: str | None = None) -> str:
    """The newest spelling of a listed method (its @odata.type suffix and, for phones, its phoneType)."""
    matches = [n.name for n in NAMES.values() if n.resource == resource and
               (n.phone_type is None or n.phone_type == phone_type)]
    preferred = {_FIDO2: "passKeyDeviceBound", "platformCredentialAuthenticationMethod": "macOsSecureEnclaveKey",
                 "microsoftAuthenticatorAuthenticationMethod": "microsoftAuthenticatorPush",
                 "qrCodePinAuthenticationMethod": "qrCodePin"}
    return preferred.get(resource) if resource in preferred else (matches[0] if matches else "")  # type: ignore[return-value]
