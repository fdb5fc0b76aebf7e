"""How Entra names methods in its audit log, mapped to Graph's ``methodsRegistered`` vocabulary.

Sources: the Entra "Audit activities" reference (service Authentication Methods, its ``resultReason`` texts),
the Core Directory "Update user" StrongAuthenticationMethod list (MethodType numbers as the Microsoft "Hunting
for MFA manipulations" blog and Splunk's "Azure AD New MFA Method Registered" read them), and Sigma / Elastic
rules for the TAP and passkey activities.
"""

from __future__ import annotations

from functools import lru_cache

from shared.graph.method_names import PHISHING_RESISTANT as PHISHING_RESISTANT_NAMES

# StrongAuthenticationMethod MethodType -> methodsRegistered name.
STRONG_AUTH_METHOD_TYPES: dict[int, str] = {
    0: "mobilePhone", 1: "mobilePhone", 5: "mobilePhone",
    2: "officePhone",
    3: "alternateMobilePhone", 4: "alternateMobilePhone",
    6: "microsoftAuthenticatorPush",
    7: "softwareOneTimePasscode",
}

# Lower-cased fragments of resultReason / activity text, most specific first.
_TEXT: tuple[tuple[tuple[str, ...], str], ...] = (
    (("temporary access pass",), "temporaryAccessPass"),
    (("passkey", "authenticator"), "passKeyDeviceBoundAuthenticator"),
    (("passkey", "windows hello"), "passKeyDeviceBoundWindowsHello"),
    (("passkey",), "passKeyDeviceBound"),
    (("fido",), "fido2SecurityKey"),
    (("security key",), "fido2SecurityKey"),
    (("windows hello",), "windowsHelloForBusiness"),
    (("passwordless",), "microsoftAuthenticatorPasswordless"),
    (("authenticator", "notification"), "microsoftAuthenticatorPush"),
    (("authenticator", "push"), "microsoftAuthenticatorPush"),
    (("hardware",), "hardwareOneTimePasscode"),
    (("software oath",), "softwareOneTimePasscode"),
    (("authenticator",), "softwareOneTimePasscode"),
    (("oath",), "softwareOneTimePasscode"),
    (("app password",), "appPassword"),
    (("alternate",), "alternateMobilePhone"),
    (("office phone",), "officePhone"),
    (("phone",), "mobilePhone"),
    (("sms",), "mobilePhone"),
    (("email",), "email"),
    (("security question",), "securityQuestion"),
    (("platform credential",), "macOsSecureEnclaveKey"),
    (("external authentication",), "externalAuthMethod"),
    (("qr code",), "qrCodePin"),
)


@lru_cache(maxsize=4096)  # Entra writes a few dozen distinct texts; a stream repeats them
def method_from_text(text: str) -> str | None:
    lowered = text.lower()
    for needles, name in _TEXT:
        if all(n in lowered for n in needles):
            return name
    return None


# Activities of service "Authentication Methods" and what they do to the target's methods.
REGISTERED = {"user registered security info", "admin registered security info",
              "create temporary access pass method for user", "add passkey (device-bound)"}
UPDATED = {"user updated security info", "admin updated security info"}
DELETED = {"user deleted security info", "admin deleted security info",
           "delete temporary access pass method for user"}
DEFAULT = {"user changed default security info"}
# Viewing is not changing; started/cancelled are steps of a registration recorded on their own; "registered all
# required" restates the registrations before it (SIEM users report each as a false positive).
NOISE = {"user reviewed security info", "user started security info registration",
         "user canceled security info registration", "user registered all required security info"}
PER_USER_MFA_OFF = {"disable strong authentication"}
SSPR = {"reset password (self-service)", "self-service password reset flow activity progress"}

PHISHING_RESISTANT = PHISHING_RESISTANT_NAMES  # decided once, in shared/graph/method_names.py
