"use strict";
// A link like /login#token=... logs in without the token ever reaching a server log:
// the part after '#' stays in the browser, which POSTs it.
async function login(token) {
  const r = await fetch("/login", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }) });
  if (r.status === 204) { window.location.replace("/"); return; }
  document.getElementById("msg").textContent = t("token not recognised");
}
initLanguage();  // the catalog needs no login: the reader's language before the token
const hash = new URLSearchParams(window.location.hash.slice(1));
if (hash.get("token")) { history.replaceState(null, "", "/login"); login(hash.get("token")); }
document.getElementById("form").addEventListener("submit", (e) => {
  e.preventDefault();
  login(document.getElementById("token").value.trim());
});
