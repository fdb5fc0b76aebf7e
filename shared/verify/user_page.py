"""The user's own page for the verified_id proof: who is being helped, what happens, the QR code of the
presentation request (drawn here: no external service sees it), a link for a phone's own browser, the proof's state
followed without a reload, and the TAP once when the policy gives it to the verified user.

Self-contained: no CDN, a strict Content-Security-Policy with a nonce, every value escaped, no Referer, readable at
a phone's width."""

from __future__ import annotations

import html
import secrets

from shared.verify.page import Page

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f5f6f8;color:#1b1f24;
overflow-wrap:anywhere}
main{max-width:34rem;margin:1rem auto;background:#fff;border-radius:8px;padding:1rem 1.25rem;
box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.3rem;margin-top:0}.qr svg{width:100%;max-width:16rem;height:auto;display:block;margin:0 auto}
.warn{background:#fff4ce;border-left:4px solid #c19c00;padding:.6rem .8rem}
a.button{display:inline-block;background:#0f6cbd;color:#fff;padding:.6rem 1rem;border-radius:4px;text-decoration:none}
#tap{font:1.6rem/1.2 ui-monospace,monospace;letter-spacing:.1rem;word-break:break-all}
#state{font-weight:600}
"""

_SCRIPT = """
(function(){
  var here = window.location.pathname;
  var state = document.getElementById("state");
  var said = {pending: "Waiting for you to scan the code with Microsoft Authenticator.",
              scanned: "Code scanned: finish in Microsoft Authenticator (Face Check).",
              passed: "You are verified.", failed: "The verification did not pass. Call the service desk.",
              expired: "This request expired. Call the service desk."};
  var showing = false;
  function tick(){
    fetch(here + "/status", {credentials: "same-origin", cache: "no-store"}).then(function(r){
      if (!r.ok) { state.textContent = "This page can no longer be used."; return null; }
      return r.json();
    }).then(function(s){
      if (!s) { return; }
      state.textContent = said[s.state] || s.state;
      state.setAttribute("data-state", s.state);
      if (s.state === "passed" && s.reset !== "succeeded" && s.reset !== "failed") {
        state.textContent = "You are verified. Your sign-in methods are being reset...";
      }
      if (s.tap_ready && !showing) { showing = true; show(); return; }
      if (s.state === "failed" || s.state === "expired" || s.reset === "failed" || showing) { return; }
      window.setTimeout(tick, 2000);
    }, function(){ window.setTimeout(tick, 4000); });
  }
  function show(){
    fetch(here + "/tap", {credentials: "same-origin", cache: "no-store"}).then(function(r){
      return r.json().then(function(p){
        if (r.ok) {
          document.getElementById("tap").textContent = p.temporaryAccessPass;
          document.getElementById("tap-note").textContent = "Sign in with this Temporary Access Pass before " +
            p.expires + (p.usable_once ? " (it works once)" : "") +
            ", then register Microsoft Authenticator or a passkey at https://aka.ms/mysecurityinfo. " +
            "It is not shown again.";
          document.getElementById("tap-box").hidden = false;
        } else { state.textContent = p.detail || p.title; }
      });
    });
  }
  tick();
})();
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def user_page(*, url: str, state: str, organisation: str, display_name: str) -> Page:
    import segno  # on the page's first render, not at the app's import (a cold start pays every import)

    nonce = secrets.token_urlsafe(16)
    qr = segno.make(url, error="m").svg_inline(scale=4, dark="#111", omitsize=True) if url else ""
    who = display_name or "you"
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"<title>{_e(organisation)}: prove it is you</title><style nonce=\"{nonce}\">{_STYLE}</style></head>"
            f"<body><main><h1>{_e(organisation)}: prove it is you, {_e(who)}</h1>"
            "<p>Your service desk is resetting your sign-in methods. Before anything changes, prove it is you with "
            "your Verified Employee card and a Face Check in Microsoft Authenticator. Then a Temporary Access Pass "
            "appears on this page.</p>"
            '<p class="warn">Only continue on a screen you opened yourself. If someone sent you this page or its '
            "code, stop and call your service desk: they may be trying to take over your account.</p>"
            f'<div class="qr" id="qr" aria-label="QR code to scan with Microsoft Authenticator">{qr}</div>'
            f'<p>On this phone? <a class="button" id="open-wallet" href="{_e(url)}">Open Microsoft Authenticator'
            "</a></p>"
            f'<p id="state" data-state="{_e(state)}" role="status">Loading...</p>'
            '<div id="tap-box" hidden><p>Your Temporary Access Pass:</p><p><output id="tap"></output></p>'
            '<p id="tap-note"></p></div></main>'
            f'<script nonce="{nonce}">{_SCRIPT}</script></body></html>')
    return Page(body=body, nonce=nonce)



def recover_form() -> Page:
    nonce = secrets.token_urlsafe(16)
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f'<title>Recover your sign-in</title><style nonce="{nonce}">{_STYLE}</style></head>'
            "<body><main><h1>Recover your sign-in</h1>"
            "<p>Lost your phone or security key? Prove it is you with your Verified Employee card and a Face Check "
            "in Microsoft Authenticator, and get a Temporary Access Pass to set up a new method.</p>"
            '<form method="post" action="/api/public/recover">'
            '<label for="upn">Your sign-in name</label> '
            '<input id="upn" name="upn" type="email" autocomplete="username" required maxlength="320"> '
            '<button id="start" type="submit">Continue</button></form></main></body></html>')
    return Page(body=body, nonce=nonce)
