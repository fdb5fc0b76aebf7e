"""The manager's approval page: who is to be reset, on whose request, what will happen, Approve / Deny, the
outcome after a decision, and the TAP shown once when the policy delivers it to the manager.

Every value from the tenant, the ticket or the caller is HTML-escaped; the page loads nothing from elsewhere, runs
only its own script (a CSP nonce), cannot be framed, and sends no Referer (its address holds the verification id)."""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass

from shared.jobs.model import Job, JobState
from shared.verify.model import PENDING

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f5f6f8;color:#1b1f24}
main{max-width:40rem;margin:2rem auto;background:#fff;border-radius:8px;padding:1.5rem 2rem;
box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin-top:0}dt{font-weight:600}dd{margin:0 0 .6rem 0}
.warn{background:#fff4ce;border-left:4px solid #c19c00;padding:.6rem .8rem}
button{font:inherit;padding:.5rem 1.2rem;border-radius:4px;border:1px solid #8a8886;cursor:pointer;
margin:.3rem .3rem 0 0}
#approve{background:#107c10;color:#fff;border-color:#107c10}#deny{background:#a4262c;color:#fff;border-color:#a4262c}
textarea{width:100%;min-height:4rem;font:inherit;box-sizing:border-box}
#message{color:#a4262c;min-height:1.5rem}#tap{font:1.6rem/1.2 ui-monospace,monospace;letter-spacing:.1rem}
.outcome{font-weight:600}
"""

_SCRIPT = """
(function(){
  var here = window.location.pathname;
  var message = document.getElementById("message");
  function say(text){ if (message) { message.textContent = text; } }
  function decide(decision, reason){
    var body = {decision: decision};
    if (reason) { body.reason = reason; }
    return fetch(here, {method: "POST", credentials: "same-origin",
                        headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
      .then(function(r){
        if (r.ok) { window.location.reload(); return; }
        return r.json().then(function(p){ say(p.detail || p.title || ("refused: " + r.status)); },
                             function(){ say("refused: " + r.status); });
      }, function(){ say("mfaops could not be reached; try again"); });
  }
  var approve = document.getElementById("approve");
  if (approve) { approve.addEventListener("click", function(){ decide("approve", ""); }); }
  var deny = document.getElementById("deny");
  if (deny) { deny.addEventListener("click", function(){
    var reason = document.getElementById("reason").value.trim();
    if (!reason) { say("A denial needs a reason."); return; }
    decide("deny", reason);
  }); }
  var show = document.getElementById("show-tap");
  if (show) { show.addEventListener("click", function(){
    show.disabled = true;
    fetch(here + "/tap", {credentials: "same-origin"}).then(function(r){
      return r.json().then(function(p){
        if (r.ok) {
          document.getElementById("tap").textContent = p.temporaryAccessPass;
          document.getElementById("tap-note").textContent = "Valid until " + p.expires +
            ". It will not be shown again: give it to the user in person.";
          show.remove();
        } else { say(p.detail || p.title); }
      });
    });
  }); }
  var waiting = document.querySelector("[data-refresh]");
  if (waiting) { window.setTimeout(function(){ window.location.reload(); }, 3000); }
})();
"""


@dataclass(frozen=True, slots=True)
class Page:
    body: str
    nonce: str

    @property
    def csp(self) -> str:
        return (f"default-src 'none'; script-src 'nonce-{self.nonce}'; style-src 'nonce-{self.nonce}'; "
                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def manager_page(job: Job, *, viewer: str) -> Page:
    v = job.verification
    assert v is not None
    nonce = secrets.token_urlsafe(16)
    proof = v.proof("manager")
    tap_taken = any(s.action == "tap_retrieval" and s.outcome == "retrieved" for s in job.steps)
    who = job.target.upn or job.target.id
    options = next((s.data for s in job.steps if s.action == "options"), {})
    what = ["every removable MFA method of the user is removed"]
    if options.get("revoke_sessions", True) is not False:
        what.append("their sign-in sessions are revoked")
    if options.get("issue_tap", True) is not False:
        what.append("a Temporary Access Pass is issued" + (" and shown to you once, here, to give to them in person"
                                                           if v.tap_delivery == "manager" else ""))
    rows = [("User", who), ("Ticket", job.source.number or "none (an operator's request)"),
            ("Requested by", job.requested_by or "unknown"), ("Requested at", job.created_at.isoformat()),
            ("Expires at", v.expires_at.isoformat() if v.expires_at else "")]
    if len(v.kinds) > 1:
        rows.append(("Also required", ", ".join(k for k in v.kinds if k != "manager") or "nothing else"))
    listing = "".join(f"<dt>{_e(k)}</dt><dd>{_e(val)}</dd>" for k, val in rows)
    state = f'<section id="state" data-state="{_e(v.state)}" data-proof="{_e(proof.state if proof else "")}"'
    if proof is not None and proof.state == PENDING and v.state == PENDING:
        section = (f'{state}><p class="warn">Approve only if you have confirmed, yourself, that {_e(who)} asked '
                   "for this (call them on a number you already know). Attackers call service desks pretending "
                   "to be employees.</p>"
                   '<button id="approve" type="button">Approve</button>'
                   '<label for="reason">Reason (required to deny)</label>'
                   '<textarea id="reason" maxlength="500"></textarea>'
                   '<button id="deny" type="button">Deny</button>'
                   '<p id="message" role="alert"></p></section>')
    else:
        outcome = _outcome(job, proof.state if proof else "", proof.by if proof else None, v.state)
        tap = ""
        if v.tap_delivery == "manager" and proof is not None and proof.state == "passed":
            if job.state is JobState.SUCCEEDED and not tap_taken and any(
                    s.action == "issue_tap" and s.outcome == "issued" for s in job.steps):
                tap = ('<button id="show-tap" type="button">Show the Temporary Access Pass (once)</button>'
                       '<p><output id="tap"></output></p><p id="tap-note"></p>')
            elif job.state is JobState.SUCCEEDED and tap_taken:
                tap = "<p>The Temporary Access Pass was shown already; it is not shown again.</p>"
            elif not job.state.is_final:
                tap = '<p data-refresh="1">The reset is running: this page refreshes by itself.</p>'
        section = (f'{state}><p class="outcome" id="outcome">{_e(outcome)}</p>{tap}'
                   '<p id="message" role="alert"></p></section>')
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"<title>MFA reset of {_e(who)}: manager approval</title><style nonce=\"{nonce}\">{_STYLE}</style></head>"
            f"<body><main><h1>Approve the MFA reset of {_e(who)}?</h1>"
            f"<p>Signed in as {_e(viewer)}.</p><dl>{listing}</dl>"
            f"<p>If you approve: {_e('; '.join(what))}.</p>{section}</main>"
            f'<script nonce="{nonce}">{_SCRIPT}</script></body></html>')
    return Page(body=body, nonce=nonce)


def _outcome(job: Job, proof_state: str, by: str | None, state: str) -> str:
    if proof_state == "passed":
        done = {"succeeded": " The reset is done.", "failed": " The reset then failed; the service desk is told.",
                "rejected": " The reset was then refused by a guardrail."}.get(job.state.value, "")
        return f"Approved by {by}.{done}"
    if proof_state == "failed":
        return f"Denied by {by}. Nothing was removed." if by else "This approval cannot be given. Nothing was removed."
    if proof_state == "expired" or state == "expired":
        return "This request expired. Nothing was removed."
    return f"This verification is {state}. Nothing more to decide here."


def message_page(title: str, text: str) -> Page:
    nonce = secrets.token_urlsafe(16)
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="referrer" '
            f'content="no-referrer"><title>{_e(title)}</title><style nonce="{nonce}">{_STYLE}</style></head>'
            f"<body><main><h1>{_e(title)}</h1><p>{_e(text)}</p></main></body></html>")
    return Page(body=body, nonce=nonce)
