// The page's words in the reader's language (English, Russian, Turkmen): chosen by the switch,
// remembered in this browser, else taken from the browser's languages. Messages come from the
// server's gettext catalogs (/api/v1/i18n/<lang>); a missing translation shows the English.
"use strict";

const I18N = { lang: "en", messages: {}, ruleTitles: {}, languages: { en: "English" } };
const LANG_KEY = "minewatch.lang";

function t(text) { return I18N.messages[text] || text; }

// A message with values ("last {range}, {step} maxima, {n} points"): the whole sentence is
// translated, then each {name} filled in, so a language puts the values where its word order wants.
function tf(text, values) {
  return t(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

// Marks a message for the catalog where it is defined (a table of codes the API sends); t() shows it.
function N_(text) { return text; }

// A code the API sends ("firing", "breach_opened") in words: its N_-marked entry in ``table``,
// translated; a code the table does not know shows as sent.
function codeText(table, code) { return t(table[code] || code); }

function ruleTitle(ruleId, english) { return I18N.ruleTitles[ruleId] || english; }

function chooseLanguage() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const code = tag.toLowerCase().split("-")[0];
    if (["en", "ru", "tk"].includes(code)) return code;
  }
  return "en";
}

// Every element with data-i18n gets its English text translated, and every element with
// data-i18n-attrs its placeholder, title and aria-label (the English stays in the HTML).
const I18N_ATTRS = ["placeholder", "title", "aria-label"];

function applyMessages(root) {
  for (const el of (root || document).querySelectorAll("[data-i18n]")) {
    if (!el.dataset.en) el.dataset.en = el.textContent.trim();
    el.textContent = t(el.dataset.en);
  }
  for (const el of (root || document).querySelectorAll("[data-i18n-attrs]")) {
    for (const name of I18N_ATTRS.filter((n) => el.hasAttribute(n))) {
      const kept = `data-en-${name}`;
      if (!el.hasAttribute(kept)) el.setAttribute(kept, el.getAttribute(name));
      el.setAttribute(name, t(el.getAttribute(kept)));
    }
  }
}

async function loadLanguage(lang) {
  const r = await fetch(`/api/v1/i18n/${lang}`, { credentials: "same-origin" });
  if (!r.ok) return;
  const body = await r.json();
  Object.assign(I18N, { lang: body.lang, messages: body.messages, ruleTitles: body.rule_titles,
    languages: body.languages });
  document.documentElement.lang = body.lang;
  applyMessages();
  const sel = document.getElementById("lang");
  if (sel && sel.options.length === 0) {
    for (const [code, name] of Object.entries(body.languages)) sel.add(new Option(name, code));
  }
  if (sel) sel.value = body.lang;
}

function initLanguage(onChange) {
  const sel = document.getElementById("lang");
  if (sel) {
    sel.addEventListener("change", async () => {
      localStorage.setItem(LANG_KEY, sel.value);
      await loadLanguage(sel.value);
      if (onChange) onChange();
    });
  }
  return loadLanguage(chooseLanguage());
}
