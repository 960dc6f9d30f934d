// Passkey ceremonies: JSON options from the server in, JSON credential out.
// Uses the browser's JSON helpers where present, with the base64url codec as a fallback for older Safari.
import { t } from "./i18n.js";
import { postJSON } from "./api.js";
import { decode as b64urlToBuf, encode as bufToB64url } from "./base64url.js";

export const supported = () => typeof window.PublicKeyCredential === "function";

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: b64urlToBuf(json.challenge),
    user: { ...json.user, id: b64urlToBuf(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: b64urlToBuf(c.id) })),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: b64urlToBuf(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: b64urlToBuf(c.id) })),
  };
}

function toJSON(cred) {
  if (typeof cred.toJSON === "function") return cred.toJSON();
  const r = cred.response;
  const out = { id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type, response: {} };
  out.clientExtensionResults = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
  out.response.clientDataJSON = bufToB64url(r.clientDataJSON);
  if (r.attestationObject) {
    out.response.attestationObject = bufToB64url(r.attestationObject);
    out.response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    out.response.authenticatorData = bufToB64url(r.authenticatorData);
    out.response.signature = bufToB64url(r.signature);
    out.response.userHandle = r.userHandle ? bufToB64url(r.userHandle) : null;
  }
  return out;
}

export async function create(json) {
  return toJSON(await navigator.credentials.create({ publicKey: creationOptions(json) }));
}

// A new passkey through one of the server's ceremonies (an invite, a recovery code, Settings): options
// asked with `body`, the browser's passkey, then `verifyUrl` with it and `extra`; `saving()` runs while
// the server stores it. Resolves to where the server sends the person next; throws what to show.
export async function enrol(optionsUrl, body, verifyUrl, extra = {}, saving = () => {}) {
  if (!supported()) throw new DOMException("unsupported", "NotSupportedError");
  const opts = await postJSON(optionsUrl, body);
  if (!opts.ok) throw new Error(opts.data.error || t("Could not start."));
  const credential = await create(opts.data);
  saving();
  const res = await postJSON(verifyUrl, { ...extra, credential });
  if (!res.ok) throw new Error(res.data.error || t("Could not save your passkey."));
  return res.data.redirect;
}

export async function get(json, { conditional = false, signal } = {}) {
  const options = { publicKey: requestOptions(json), signal };
  if (conditional) options.mediation = "conditional";
  return toJSON(await navigator.credentials.get(options));
}

export async function conditionalAvailable() {
  return Boolean(
    window.PublicKeyCredential?.isConditionalMediationAvailable &&
      (await PublicKeyCredential.isConditionalMediationAvailable()),
  );
}

// Plain words for what went wrong, including the in-app browser case (DESIGN 1).
export function explain(err) {
  const name = err?.name || "";
  if (!supported()) {
    return t("This browser cannot use passkeys. Open this link in your phone's own browser (Safari or Chrome).");
  }
  if (name === "NotAllowedError") {
    return t("The passkey was not used. If nothing appeared, open this link in your phone's own browser (Safari or Chrome) and try again.");
  }
  if (name === "InvalidStateError") return t("This device already has a passkey for this account.");
  if (name === "SecurityError") return t("Passkeys need a secure connection. Open the link exactly as you received it.");
  return t("Something went wrong with the passkey. Please try again, or open this link in your phone's own browser.");
}
