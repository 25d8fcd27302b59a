// silentauth demo page. Everything here uses the SDK's public API (API.md);
// the page's CSP forbids inline scripts, so all behaviour lives in this file.
"use strict";

(function () {
  const cfg = window.SILENTAUTH_DEMO || {};
  const RESPONSE_TYPE_KEY = "silentauth-demo.responseType";
  const REFRESH_KEY = "silentauth-demo.useRefreshTokens";
  const DPOP_KEY = "silentauth-demo.useDpop";
  const NEEDS_LOGIN = ["login_required", "consent_required", "interaction_required", "account_selection_required"];

  const $ = (id) => document.getElementById(id);
  let client = null;
  let result = null; // last AuthResult
  let signedIn = false;
  let renewals = 0;

  // ---- small view helpers -------------------------------------------------

  function log(kind, message) {
    const li = document.createElement("li");
    const t = document.createElement("span");
    t.className = "t";
    t.textContent = new Date().toLocaleTimeString();
    const k = document.createElement("span");
    k.className = "k k-" + kind;
    k.textContent = kind;
    const m = document.createElement("span");
    m.className = "m";
    m.textContent = message;
    li.append(t, k, m);
    const list = $("log");
    list.prepend(li);
    while (list.children.length > 200) list.lastElementChild.remove();
  }

  function describe(err) {
    if (!err) return "unknown error";
    if (err.error) return err.error + (err.error_description ? ": " + err.error_description : "");
    return String(err.message || err);
  }

  const STATUS = {
    "signed-in": ["Signed in", "pill-in"],
    "signed-out": ["Signed out", "pill-out"],
    "session-ended": ["Session ended", "pill-ended"],
    "pending": ["Starting…", "pill-pending"],
  };

  function setStatus(name) {
    const [text, cls] = STATUS[name];
    const pill = $("status");
    pill.textContent = text;
    pill.className = "pill " + cls;
    pill.dataset.state = name;
    signedIn = name === "signed-in";
    $("logout").disabled = !client;
    $("call-api").disabled = !client || !cfg.apiUrl;
    $("logout-server").disabled = !cfg.serverLogoutUrl;
    $("check").disabled = !client;
    $("login").disabled = !client;
    $("login-popup").disabled = !client;
    $("login-popup").hidden = signedIn;
    // One primary action: Log in while signed out, Log out once signed in.
    $("login").hidden = signedIn;
    $("login").classList.toggle("primary", !signedIn);
    $("logout").classList.toggle("primary", signedIn);
    $("logout").classList.toggle("ghost", !signedIn);
  }

  function shorten(token) {
    return token ? token : "—";
  }

  function showResult(r) {
    result = r;
    $("access-token").textContent = shorten(r && r.accessToken);
    $("id-token").textContent = shorten(r && r.idToken);
    $("scope").textContent = (r && r.scope) || "—";
    $("expires-at").textContent = r && r.expiresAt ? new Date(r.expiresAt).toLocaleTimeString() : "—";
    showClaims(client ? client.getUser() : null);
    tick();
  }

  function showClaims(claims) {
    const box = $("claims");
    box.replaceChildren();
    if (!claims) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "Not signed in.";
      box.append(p);
      return;
    }
    const table = document.createElement("table");
    for (const [name, value] of Object.entries(claims)) {
      const tr = document.createElement("tr");
      const k = document.createElement("td");
      k.textContent = name;
      const v = document.createElement("td");
      v.textContent = typeof value === "string" ? value : JSON.stringify(value);
      if (["exp", "iat", "auth_time", "nbf"].includes(name) && typeof value === "number") {
        const when = document.createElement("span");
        when.className = "when";
        when.textContent = "  " + new Date(value * 1000).toLocaleTimeString();
        v.append(when);
      }
      tr.append(k, v);
      table.append(tr);
    }
    box.append(table);
  }

  // The countdown reads the wall clock each tick, so it stays right after the tab sleeps.
  function tick() {
    const cd = $("countdown");
    const bar = $("countdown-bar");
    if (!result || !result.expiresAt) {
      cd.textContent = "--:--";
      cd.className = "countdown";
      bar.style.width = "0";
      return;
    }
    const left = result.expiresAt - Date.now();
    const secs = Math.max(0, Math.ceil(left / 1000));
    cd.textContent = Math.floor(secs / 60) + ":" + String(secs % 60).padStart(2, "0");
    cd.className = "countdown" + (left <= 0 ? " gone" : secs <= 15 ? " low" : "");
    const total = (result.expiresIn || 1) * 1000;
    bar.style.width = Math.max(0, Math.min(100, (left / total) * 100)) + "%";
    bar.className = "meter-fill" + (secs <= 15 ? " low" : "");
  }

  // ---- the SDK ------------------------------------------------------------

  function useRefreshTokens() {
    return sessionStorage.getItem(REFRESH_KEY) === "1";
  }

  function useDpop() {
    return sessionStorage.getItem(DPOP_KEY) === "1";
  }

  // Refresh tokens and DPoP-bound tokens come only from the token endpoint: the code flow.
  function responseType() {
    return useRefreshTokens() || useDpop() ? "code" : sessionStorage.getItem(RESPONSE_TYPE_KEY) || "code";
  }

  // Which way this tab's last renewal went, read from the SDK's debug lines
  // (debug: true) so the renewal log can say it; a renewed event with none
  // is a result another tab shared.
  let lastWay = "";
  const plainDebug = console.debug.bind(console);
  console.debug = (...args) => {
    const line = String(args[0]);
    if (line.startsWith("silentauth: renewal via refresh token")) lastWay = "refresh token";
    else if (line.startsWith("silentauth: silent request opened")) lastWay = "silent iframe";
    plainDebug(...args);
  };
  function takeWay() {
    const way = lastWay || "another tab's renewal";
    lastWay = "";
    return way;
  }

  async function makeClient() {
    if (client) {
      client.destroy();
      client = null;
    }
    const options = { domain: cfg.domain, clientId: cfg.clientId, responseType: responseType(), debug: true };
    if (cfg.audience) options.audience = cfg.audience;
    if (useRefreshTokens()) options.useRefreshTokens = true;
    if (useDpop()) options.useDpop = true;
    // client.fetch sends the token only to apiOrigins (default: this page's
    // origin); the demo's API lives on the tenant, another origin.
    if (cfg.apiUrl) {
      const api = new URL(cfg.apiUrl, location.href).origin;
      options.apiOrigins = api === location.origin ? [api] : [location.origin, api];
    }
    client = await silentauth.createClient(options);
    client.on("renewed", (r) => {
      renewals++;
      $("renewals").textContent = String(renewals);
      log("renewed", "new tokens via " + takeWay() + ", expires_in " + r.expiresIn + " s, valid until " +
        new Date(r.expiresAt).toLocaleTimeString());
      showResult(r);
      setStatus("signed-in");
    });
    client.on("renew_error", (e) => log("renew_error", describe(e) + " (will retry)"));
    client.on("session_ended", (e) => {
      log("session_ended", describe(e) + ": log in again to continue");
      setStatus("session-ended");
    });
    log("info", "createClient({responseType: \"" + options.responseType + "\"" +
      (options.useRefreshTokens ? ", useRefreshTokens: true" : "") + (options.useDpop ? ", useDpop: true" : "") + "}) ready");
  }

  function isRedirectCallback() {
    const q = new URLSearchParams(location.search);
    const h = new URLSearchParams(location.hash.slice(1));
    return (q.has("state") && (q.has("code") || q.has("error"))) ||
      (h.has("state") && (h.has("id_token") || h.has("access_token") || h.has("error")));
  }

  async function checkSession(why) {
    log("info", "checkSession() " + why);
    try {
      showResult(await client.checkSession());
      setStatus("signed-in");
    } catch (e) {
      const needsLogin = NEEDS_LOGIN.includes(e && e.error);
      const wasSignedIn = signedIn || $("status").dataset.state === "session-ended";
      if (needsLogin && !wasSignedIn) {
        // Not signed in yet: the ordinary state of a first visit, not an error.
        log("info", "checkSession: " + describe(e) + ": not signed in, press Log in");
      } else {
        log("error", "checkSession: " + describe(e));
      }
      if (needsLogin) {
        setStatus(wasSignedIn ? "session-ended" : "signed-out");
        if (!signedIn) showResult(null);
      }
    }
  }

  // ---- buttons ------------------------------------------------------------

  function wire() {
    $("login").addEventListener("click", async () => {
      try {
        await client.loginWithRedirect();
      } catch (e) {
        log("error", "loginWithRedirect: " + describe(e));
      }
    });
    // Called straight from the click, before any await: the browser lets a
    // page open a window only while it handles the user's gesture.
    $("login-popup").addEventListener("click", async () => {
      try {
        showResult(await client.loginWithPopup());
        setStatus("signed-in");
        log("info", "loginWithPopup: signed in");
      } catch (e) {
        log("error", "loginWithPopup: " + describe(e));
      }
    });
    $("check").addEventListener("click", () => checkSession("on request"));
    $("call-api").addEventListener("click", async () => {
      const out = $("api-result");
      out.textContent = "…";
      try {
        const res = await client.fetch(cfg.apiUrl);
        const text = await res.text();
        let body = text;
        try { body = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON: show as is */ }
        out.textContent = res.status + " " + res.statusText + "\n" + body;
        log("api", "GET " + cfg.apiUrl + " → " + res.status);
      } catch (e) {
        out.textContent = describe(e);
        log("error", "fetch: " + describe(e));
      }
    });
    $("logout-server").addEventListener("click", async () => {
      try {
        // no-cors: we only need the session cookie sent; the answer is opaque and irrelevant.
        await fetch(cfg.serverLogoutUrl, { credentials: "include", mode: "no-cors" });
        log("info", "session ended at the server only; this page keeps its tokens until the next " +
          "renewal, which will answer login_required (or press Check session now)");
      } catch (e) {
        log("error", "server logout: " + describe(e));
      }
    });
    $("logout").addEventListener("click", async () => {
      try {
        await client.logout({ returnTo: location.origin });
      } catch (e) {
        log("error", "logout: " + describe(e));
      }
    });
    // A switched option makes a new client, which checks the session anew.
    async function remakeClient(why) {
      try {
        await makeClient();
        await checkSession(why);
      } catch (e) {
        log("error", "createClient: " + describe(e));
      }
    }
    $("response-type").addEventListener("change", async (ev) => {
      sessionStorage.setItem(RESPONSE_TYPE_KEY, ev.target.value);
      await remakeClient("after switching the response type");
    });
    $("use-refresh-tokens").addEventListener("change", async (ev) => {
      sessionStorage.setItem(REFRESH_KEY, ev.target.checked ? "1" : "0");
      $("response-type").value = responseType();
      $("response-type").disabled = useRefreshTokens() || useDpop();
      await remakeClient("after switching useRefreshTokens");
    });
    $("use-dpop").addEventListener("change", async (ev) => {
      sessionStorage.setItem(DPOP_KEY, ev.target.checked ? "1" : "0");
      $("response-type").value = responseType();
      $("response-type").disabled = useRefreshTokens() || useDpop();
      await remakeClient("after switching useDpop");
    });
    $("clear-log").addEventListener("click", () => $("log").replaceChildren());
  }

  async function start() {
    $("domain").textContent = cfg.domain || "(not configured)";
    $("client-id").textContent = cfg.clientId || "(not configured)";
    $("api-url").textContent = cfg.apiUrl || "(no API configured)";
    $("dev-hints").hidden = !cfg.devTenant;
    $("response-type").value = responseType();
    $("use-refresh-tokens").checked = useRefreshTokens();
    $("use-dpop").checked = useDpop();
    $("response-type").disabled = useRefreshTokens() || useDpop();
    setInterval(tick, 250);
    wire();
    setStatus("pending");

    if (!window.silentauth) {
      log("error", "the SDK did not load from /silentauth/silentauth.js: run `make build`, then reload");
      setStatus("signed-out");
      return;
    }
    try {
      await makeClient();
    } catch (e) {
      log("error", "createClient: " + describe(e));
      setStatus("signed-out");
      return;
    }
    setStatus("signed-out");
    if (isRedirectCallback()) {
      try {
        const r = await client.handleRedirectCallback();
        log("login", "handleRedirectCallback: signed in");
        showResult(r);
        setStatus("signed-in");
      } catch (e) {
        log("error", "handleRedirectCallback: " + describe(e));
      }
      return;
    }
    await checkSession("on page load (is there a session at the server?)");
  }

  document.addEventListener("DOMContentLoaded", start);
})();
