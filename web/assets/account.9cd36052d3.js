// The signed-in user: { userId, name, token }, kept in localStorage so that the page stays
// signed in across reloads; signing out forgets it. The token is shown once, right after the
// account is made (the service never shows it again).

import { createUser, listRecords, ProblemError } from "./api.892a67766b.js";
import { announce, byId } from "./dom.5bf9c47b90.js";

const STORAGE_KEY = "quiz-audio.account";
const listeners = new Set();
let current = load();

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
    if (saved && Number.isInteger(saved.userId) && typeof saved.token === "string") return saved;
  } catch {
    // a damaged entry is as good as none
  }
  return null;
}

export const account = () => current;

export function onAccountChange(listener) {
  listeners.add(listener);
}

function setAccount(value, { persist = true } = {}) {
  current = value;
  if (persist && value) localStorage.setItem(STORAGE_KEY, JSON.stringify(value));
  else if (persist) localStorage.removeItem(STORAGE_KEY);
  for (const listener of listeners) listener(current);
}

export function signOut(reason) {
  setAccount(null);
  byId("token-once").hidden = true;
  announce(reason || "Signed out. This browser no longer keeps your token.");
}

function showToken(saved) {
  byId("token-user").textContent = `#${saved.userId} (${saved.name})`;
  byId("token-value").value = saved.token;
  byId("copy-status").textContent = "";
  byId("token-once").hidden = false;
  byId("token-value").focus();
  byId("token-value").select();
}

async function copyToken() {
  const field = byId("token-value");
  const status = byId("copy-status");
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(field.value);
    } else {
      field.select();
      if (!document.execCommand("copy")) throw new Error("copy refused");
    }
    status.textContent = "Copied to the clipboard.";
  } catch {
    field.select();
    status.textContent = "Copying is not allowed here: the token is selected, copy it by hand.";
  }
}

function showError(id, error) {
  const box = byId(id);
  box.textContent = error.message;
  box.hidden = false;
}

async function onCreate(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button[type=submit]");
  const name = form.elements.name.value.trim();
  byId("create-error").hidden = true;
  button.disabled = true;
  try {
    const created = await createUser(name);
    const saved = { userId: created.user_id, name: created.name, token: created.token };
    setAccount(saved);
    form.reset();
    showToken(saved);
    announce(`Account #${saved.userId} created. Save the token shown now.`);
  } catch (error) {
    showError("create-error", error);
  } finally {
    button.disabled = false;
  }
}

async function onSignIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button[type=submit]");
  const userId = Number(form.elements.user_id.value);
  const token = form.elements.token.value.trim();
  byId("sign-in-error").hidden = true;
  button.disabled = true;
  try {
    // The records list needs the token: it is the check that the pair is right.
    await listRecords({ userId, token }, { limit: 1 });
    setAccount({ userId, name: `user #${userId}`, token });
    form.reset();
    announce(`Signed in as user #${userId}.`);
  } catch (error) {
    const message =
      error instanceof ProblemError && error.status === 401
        ? new Error("That user id and token do not match.")
        : error;
    showError("sign-in-error", message);
  } finally {
    button.disabled = false;
  }
}

function render(saved) {
  byId("account-bar").hidden = !saved;
  byId("signed-out").hidden = Boolean(saved);
  if (saved) byId("account-name").textContent = `${saved.name} · user #${saved.userId}`;
}

export function initAccount() {
  byId("create-form").addEventListener("submit", onCreate);
  byId("sign-in-form").addEventListener("submit", onSignIn);
  byId("copy-token").addEventListener("click", copyToken);
  byId("token-done").addEventListener("click", () => {
    byId("token-once").hidden = true;
    byId("token-value").value = "";
    byId("add-audio-title").focus();
  });
  byId("sign-out").addEventListener("click", () => signOut());
  // Another tab signed in or out: follow it.
  window.addEventListener("storage", (event) => {
    if (event.key === STORAGE_KEY) setAccount(load(), { persist: false });
  });
  onAccountChange(render);
  render(current);
}
