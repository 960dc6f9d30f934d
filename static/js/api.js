// Small fetch helpers: JSON in and out, CSRF token in the X-CSRFToken header.

let cachedToken = null;

export async function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) return meta.content;
  if (cachedToken) return cachedToken;
  const res = await fetch("/api/session", { credentials: "same-origin", cache: "no-store" });
  if (!res.ok) return null;
  cachedToken = (await res.json()).csrf_token;
  return cachedToken;
}

export function forgetCsrfToken() {
  cachedToken = null;
}

export async function postJSON(url, body, { method = "POST" } = {}) {
  const token = await csrfToken();
  const res = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": token || "" },
    body: JSON.stringify(body ?? {}),
  });
  let data = {};
  try {
    data = await res.json();
  } catch {
    data = {};
  }
  return { ok: res.ok, status: res.status, data };
}
