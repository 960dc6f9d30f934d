// The one base64url codec (RFC 4648 section 5, no padding) for every script: passkeys and push keys.

export function encode(buffer) {
  if (!buffer) return "";
  let text = "";
  new Uint8Array(buffer).forEach((b) => {
    text += String.fromCharCode(b);
  });
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
