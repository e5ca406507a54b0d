// The account page: sign in, then manage second factors through the JSON API.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "items_api_access_token";
const SVG_NS = "http://www.w3.org/2000/svg"; // a name, never fetched
const state = { me: null, passkeys: [], mfaToken: null };

const byId = (id) => document.getElementById(id);

// --- WebAuthn's binary fields travel as base64url in the API's JSON ---------

function toBytes(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
}

function toText(buffer) {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function withIds(list) {
  return (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));
}

function credentialBody(credential) {
  const r = credential.response;
  const response = { clientDataJSON: toText(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toText(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = toText(r.authenticatorData);
    response.signature = toText(r.signature);
    if (r.userHandle) response.userHandle = toText(r.userHandle);
  }
  return {
    id: credential.id,
    rawId: toText(credential.rawId),
    type: credential.type,
    response,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

async function newCredential(options) {
  const publicKey = {
    ...options,
    challenge: toBytes(options.challenge),
    user: { ...options.user, id: toBytes(options.user.id) },
    excludeCredentials: withIds(options.excludeCredentials),
  };
  return credentialBody(await navigator.credentials.create({ publicKey }));
}

async function assertion() {
  const options = await api("POST", "/auth/passkeys/login/options");
  const publicKey = {
    ...options,
    challenge: toBytes(options.challenge),
    allowCredentials: withIds(options.allowCredentials),
  };
  return credentialBody(await navigator.credentials.get({ publicKey }));
}

// --- Calls and messages -------------------------------------------------------

function describe(error) {
  if (!error) return "Something went wrong.";
  const notes = Object.values((error.errors && error.errors.json) || {}).flat(Infinity);
  return [error.message || error.status, ...notes.filter((n) => n !== error.message)].join(" ");
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const error = new Error(describe(data));
    error.status = response.status;
    throw error;
  }
  return data;
}

function say(message, isProblem) {
  byId("problem").hidden = !isProblem;
  byId("notice").hidden = isProblem || !message;
  byId(isProblem ? "problem" : "notice").textContent = message || "";
}

function action(handler) {
  return async (event) => {
    if (event) event.preventDefault();
    say("");
    try {
      await handler();
    } catch (error) {
      say(error.message || String(error), true);
    }
  };
}

function show(section) {
  for (const id of ["sign-in", "second-step", "account"]) byId(id).hidden = id !== section;
}

// --- Signing in and out -------------------------------------------------------

async function signedIn(tokens) {
  sessionStorage.setItem(TOKEN_KEY, tokens.access_token);
  state.mfaToken = null;
  byId("password").value = "";
  await showAccount();
}

async function signInWithPassword() {
  const answer = await api("POST", "/auth/login", {
    username: byId("username").value,
    password: byId("password").value,
  });
  if (!answer.mfa_required) return signedIn(answer);
  state.mfaToken = answer.mfa_token;
  byId("second-step-passkey").hidden = !answer.methods.includes("passkey");
  byId("second-step-code").value = "";
  show("second-step");
}

async function secondStepWithCode() {
  const code = byId("second-step-code").value.trim();
  const field = /^[0-9]{6,8}$/.test(code) ? "code" : "recovery_code";
  await signedIn(await api("POST", "/auth/login/mfa", { mfa_token: state.mfaToken, [field]: code }));
}

async function secondStepWithPasskey() {
  const credential = await assertion();
  await signedIn(await api("POST", "/auth/passkeys/login", { credential, mfa_token: state.mfaToken }));
}

async function signInWithPasskey() {
  await signedIn(await api("POST", "/auth/passkeys/login", { credential: await assertion() }));
}

async function signOut() {
  try {
    await api("POST", "/auth/logout");
  } finally {
    sessionStorage.removeItem(TOKEN_KEY);
    state.me = null;
    forgetAccount();
    show("sign-in");
  }
  say("You are signed out.");
}

// Nothing of the last account stays on the page for the next person.
function forgetAccount() {
  for (const id of ["who", "passkeys", "recovery-codes", "totp-secret"]) byId(id).replaceChildren();
  for (const id of ["current-password", "presence-code", "totp-code"]) byId(id).value = "";
  byId("totp-qr").removeAttribute("src");
  byId("totp-enrolment").hidden = true;
}

// --- The account ----------------------------------------------------------------

async function showAccount() {
  try {
    state.me = await api("GET", "/auth/me");
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    show("sign-in");
    if (error.status !== 401) throw error;
    return;
  }
  state.passkeys = await api("GET", "/auth/passkeys");
  byId("who").textContent = state.me.username;
  byId("mfa-state").textContent = state.me.mfa
    ? "Your logins take a second step."
    : "Your logins take your password alone.";
  renderPasskeys();
  show("account");
}

function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : "never";
}

function renderPasskeys() {
  const list = byId("passkeys");
  list.replaceChildren();
  for (const passkey of state.passkeys) {
    const row = document.createElement("li");
    const text = document.createElement("span");
    text.textContent = `${passkey.name} (added ${when(passkey.created_at)}, last used ${when(passkey.last_used_at)})`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${passkey.name}`);
    remove.addEventListener("click", action(() => removePasskey(passkey)));
    row.append(text, remove);
    list.append(row);
  }
  if (!state.passkeys.length) {
    const row = document.createElement("li");
    row.textContent = "No passkey yet.";
    list.append(row);
  }
}

// Proof of presence: the password, and with a second factor a code or a passkey.
async function presence() {
  const proof = { current_password: byId("current-password").value };
  if (state.me.mfa) {
    const code = byId("presence-code").value.trim();
    if (code) proof.code = code;
    else if (state.passkeys.length) proof.passkey = await assertion();
    byId("presence-code").value = "";
  }
  return proof;
}

async function addPasskey() {
  const name = byId("passkey-name").value.trim() || "Passkey";
  const options = await api("POST", "/auth/passkeys/register/options", await presence());
  const credential = await newCredential(options);
  await api("POST", "/auth/passkeys", { name, credential });
  byId("passkey-name").value = "";
  await showAccount();
  say(`Passkey "${name}" added.`);
}

async function removePasskey(passkey) {
  await api("DELETE", `/auth/passkeys/${passkey.id}`, await presence());
  await showAccount();
  say(`Passkey "${passkey.name}" removed.`);
}

// The API's QR code is inline SVG; as an image of its own it needs its namespace.
function svgImage(svg) {
  const standalone = svg.includes("xmlns=") ? svg : svg.replace("<svg", `<svg xmlns="${SVG_NS}"`);
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(standalone)}`;
}

async function startTotp() {
  const enrolment = await api("POST", "/auth/mfa/totp", await presence());
  byId("totp-qr").src = svgImage(enrolment.qr_svg);
  byId("totp-secret").textContent = enrolment.secret;
  byId("totp-enrolment").hidden = false;
}

function showRecoveryCodes(codes) {
  const list = byId("recovery-codes");
  list.replaceChildren(
    ...codes.map((code) => {
      const item = document.createElement("li");
      item.textContent = code;
      return item;
    })
  );
}

async function confirmTotp() {
  const answer = await api("POST", "/auth/mfa/totp/confirm", { code: byId("totp-code").value.trim() });
  byId("totp-enrolment").hidden = true;
  byId("totp-code").value = "";
  showRecoveryCodes(answer.recovery_codes);
  await showAccount();
  say("Your authenticator app is on. Keep the recovery codes below somewhere safe.");
}

async function newRecoveryCodes() {
  const answer = await api("POST", "/auth/mfa/recovery-codes", await presence());
  showRecoveryCodes(answer.recovery_codes);
  say("New recovery codes: the old ones no longer work.");
}

document.addEventListener("DOMContentLoaded", () => {
  byId("password-form").addEventListener("submit", action(signInWithPassword));
  byId("passkey-sign-in").addEventListener("click", action(signInWithPasskey));
  byId("code-form").addEventListener("submit", action(secondStepWithCode));
  byId("second-step-passkey").addEventListener("click", action(secondStepWithPasskey));
  byId("sign-out").addEventListener("click", action(signOut));
  byId("add-passkey").addEventListener("click", action(addPasskey));
  byId("start-totp").addEventListener("click", action(startTotp));
  byId("totp-confirm-form").addEventListener("submit", action(confirmTotp));
  byId("new-recovery-codes").addEventListener("click", action(newRecoveryCodes));
  if (sessionStorage.getItem(TOKEN_KEY)) action(showAccount)();
  else show("sign-in");
});
