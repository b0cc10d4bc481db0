// The sign-in page: trades an API key, or the one-time code of a `demo` link (#code=...),
// for a session cookie (HttpOnly: this script never sees it), then loads the live page.
"use strict";

const error = document.getElementById("login-error");

function show(message) {
  error.textContent = message;
  error.hidden = false;
}

async function openSession(init) {
  const response = await fetch("/v1/session", { method: "POST", ...init });
  if (response.ok) {
    location.replace("/");
    return;
  }
  let message = `sign-in failed (HTTP ${response.status})`;
  try {
    message = (await response.json()).error.message;
  } catch (_) { /* not our error shape */ }
  show(message);
}

document.getElementById("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = document.getElementById("login-key").value.trim();
  openSession({ headers: { Authorization: `Bearer ${key}` } });
});

// A one-time link carries its code in the fragment: browsers never send that to a server.
const code = new URLSearchParams(location.hash.slice(1)).get("code");
if (code) {
  history.replaceState(null, "", location.pathname);
  openSession({ headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code }) });
}
