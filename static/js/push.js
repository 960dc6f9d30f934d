// Web Push reminders on the client: re-send the subscription on every app open, and the settings
// panel's on/off buttons. Permission is asked only from a tap (iOS refuses otherwise).
import { postJSON } from "./api.js";
import { decode as fromBase64Url, encode as toBase64Url } from "./base64url.js";

const API = "/api/push/subscriptions";
const LAST = "attune-push-endpoint";
const STALE = "attune-push-stale"; // subscribed under a VAPID key the server no longer uses
const WAIT_MS = 10000;

export function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

export function isIOS() {
  return /iPhone|iPad|iPod/.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
}

export function installed() {
  return window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
}

function withTimeout(promise, ms = WAIT_MS) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms)),
  ]);
}

async function registration() {
  return withTimeout(navigator.serviceWorker.ready);
}

// Upsert this subscription on the server; name the previous endpoint so a changed one replaces it.
export async function sendSubscription(subscription) {
  const body = subscription.toJSON();
  body.key = toBase64Url(subscription.options?.applicationServerKey);
  const previous = localStorage.getItem(LAST);
  if (previous && previous !== body.endpoint) body.replaces = previous;
  const res = await postJSON(API, body);
  if (res.ok) {
    localStorage.setItem(LAST, body.endpoint);
    if (res.data.stale) localStorage.setItem(STALE, "1");
    else localStorage.removeItem(STALE);
  }
  return res;
}

// Called by app.js on every open: pushsubscriptionchange is unreliable, so re-send what we have.
export async function onAppOpen() {
  wireSettings();
  if (!supported() || Notification.permission !== "granted") return null;
  try {
    const reg = await registration();
    const subscription = await withTimeout(reg.pushManager.getSubscription());
    if (!subscription) return null;
    return await sendSubscription(subscription);
  } catch {
    return null; // offline or no service worker yet: the next open tries again
  }
}

export async function turnOn() {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") return "denied";
  const reg = await registration();
  const { key } = await (await fetch("/api/push/key", { cache: "no-store" })).json();
  let subscription = await reg.pushManager.getSubscription();
  if (subscription && toBase64Url(subscription.options?.applicationServerKey) !== key) {
    await subscription.unsubscribe(); // the server's key changed: a new subscription is needed
    subscription = null;
  }
  subscription ||= await withTimeout(
    reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64Url(key) }),
  );
  const res = await sendSubscription(subscription);
  return res.ok ? "on" : "failed";
}

async function turnOff() {
  const reg = await registration();
  const subscription = await reg.pushManager.getSubscription();
  if (subscription) {
    await postJSON(API, { endpoint: subscription.endpoint }, { method: "DELETE" });
    await subscription.unsubscribe();
  }
  localStorage.removeItem(LAST);
  return "off";
}

// Whether this device already sends reminders: permission granted and a current subscription.
export async function isOn() {
  if (!supported() || Notification.permission !== "granted" || localStorage.getItem(STALE)) return false;
  try {
    return Boolean(await withTimeout((await registration()).pushManager.getSubscription(), 3000));
  } catch {
    return false;
  }
}

let wired = false;

// The settings panel: say what is possible on this device, and act only on a tap.
export async function wireSettings() {
  const panel = document.getElementById("push-panel");
  if (!panel || wired) return;
  wired = true;
  const state = document.getElementById("push-state");
  const show = (id, on = true) => { document.getElementById(id).hidden = !on; };
  const say = (key) => { state.textContent = state.dataset[key] || ""; };
  if (isIOS() && !installed()) {
    state.textContent = "";
    return show("push-ios");
  }
  if (!supported()) {
    state.textContent = "";
    return show("push-unsupported");
  }
  const render = async (status) => {
    const denied = Notification.permission === "denied";
    let on = status === "on";
    if (status === undefined) on = await isOn();
    if (status === "failed") say("failed"); else say(on ? "on" : "off");
    show("push-denied", denied);
    show("push-ask", !on && !denied && Notification.permission === "default");
    show("push-on", !on && !denied);
    show("push-off", on);
  };
  const act = (fn) => async (event) => {
    const button = event.currentTarget; // null after the first await
    button.disabled = true;
    say("working");
    let status;
    try {
      status = await fn();
    } catch {
      status = "failed";
    }
    button.disabled = false;
    await render(status === "denied" ? "off" : status);
  };
  document.getElementById("push-on").addEventListener("click", act(turnOn));
  document.getElementById("push-off").addEventListener("click", act(turnOff));
  await render();
}

if (document.readyState !== "loading") wireSettings();
else document.addEventListener("DOMContentLoaded", wireSettings);
