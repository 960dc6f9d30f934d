// The page's words in its language. base.html embeds the server's catalogue for every t()/tn() string in
// static/js (app/i18n.py: js_catalogue) as a JSON data block, so one catalogue serves Python, templates and
// scripts, and the service worker's cached shell carries it offline. Missing entries fall back to English.
let catalogue = null;

function entries() {
  if (catalogue === null) {
    const block = document.getElementById("i18n-catalogue");
    try {
      catalogue = block ? JSON.parse(block.textContent) : {};
    } catch {
      catalogue = {};
    }
  }
  return catalogue;
}

const fill = (text, values) =>
  text.replace(/%\((\w+)\)s/g, (whole, name) => (name in values ? String(values[name]) : whole));

// t("Could not start.") or t("Sent: %(when)s", { when }): a literal English message, translated.
export function t(msgid, values = {}) {
  const text = entries()[msgid];
  return fill(typeof text === "string" && text ? text : msgid, values);
}

// tn("%(n)s item", "%(n)s items", n): the plural form the page's language uses for n (CLDR rules).
export function tn(singular, plural, n, values = {}) {
  const forms = entries()[singular];
  const form = new Intl.PluralRules(document.documentElement.lang || "en").select(n);
  const text = forms && typeof forms === "object" ? forms[form] || forms.other : n === 1 ? singular : plural;
  return fill(text, { n, ...values });
}
