/*
 * The demo page: the SuperTokens browser SDK (window.supertokens, built by frontend/build.sh)
 * against this Django project's API.
 *
 * It is also what the end-to-end tests drive, so it keeps a few things on window:
 *   __events  every SDK event in order, as {action, sessionExpiredOrRevoked?, at}
 *   __ready   true once the first session check (and its refresh probe) is over
 *   demo      {call(method, path, body), login(username, password), signOut(), refresh(), ...}
 * A page on another origin can load this file too: it sets window.DEMO_CONFIG = {apiDomain}
 * first, and whatever elements it lacks are skipped.
 */
(function () {
    "use strict";

    var config = window.DEMO_CONFIG || {};
    var apiDomain = config.apiDomain || window.location.origin;
    var mode = new URLSearchParams(window.location.search).get("mode") === "header" ? "header" : "cookie";

    window.__events = [];
    window.__ready = false;

    function $(id) {
        return document.getElementById(id);
    }

    function setText(id, text) {
        var element = $(id);
        if (element) element.textContent = text;
    }

    function on(id, type, handler) {
        var element = $(id);
        if (element) element.addEventListener(type, handler);
    }

    function pretty(value) {
        return typeof value === "string" ? value : JSON.stringify(value, null, 2);
    }

    if (typeof window.supertokens === "undefined") {
        setText("status", "The SDK bundle is missing: run example_project/frontend/build.sh, then reload.");
        if ($("status")) $("status").className = "status error";
        return;
    }

    // ---- what the page shows --------------------------------------------------------------

    var token = null; // {issuedAt, expiresAt} in ms, from the front-token's payload

    function showEvent(record) {
        var list = $("events");
        if (!list) return;
        var empty = list.querySelector(".empty");
        if (empty) empty.remove();
        var item = document.createElement("li");
        item.className = "event event-" + record.action.toLowerCase().replace(/_/g, "-");
        var time = document.createElement("time");
        time.textContent = new Date(record.at).toISOString().slice(11, 23);
        var name = document.createElement("strong");
        name.textContent = record.action;
        item.append(time, " ", name);
        if ("sessionExpiredOrRevoked" in record) {
            item.append(" sessionExpiredOrRevoked: " + record.sessionExpiredOrRevoked);
        }
        list.prepend(item);
    }

    function showResponse(method, path, result) {
        setText("response", method + " " + path + " → " + result.status + "\n\n" + pretty(result.body));
    }

    function tick() {
        var meter = $("expiry-meter");
        if (token === null) {
            setText("expiry", "—");
            if (meter) meter.style.width = "0";
            return;
        }
        var left = token.expiresAt - Date.now();
        var lifetime = Math.max(token.expiresAt - token.issuedAt, 1);
        if (left > 0) {
            setText("expiry", "expires in " + (left / 1000).toFixed(1) + " s");
        } else {
            // Only the countdown runs on a timer: asking the SDK now would refresh on its own.
            setText("expiry", "expired: the next API call refreshes it");
        }
        if (meter) {
            meter.style.width = Math.max(0, Math.min(100, (100 * left) / lifetime)) + "%";
            meter.className = left > lifetime / 4 ? "" : "low";
        }
    }

    async function renderSession() {
        var exists = await supertokens.doesSessionExist();
        document.body.classList.toggle("signed-in", exists);
        document.body.classList.toggle("signed-out", !exists);
        if (!exists) {
            token = null;
            setText("status", "Signed out.");
            setText("user-id", "—");
            setText("payload", "—");
        } else {
            var userId = await supertokens.getUserId();
            var payload = await supertokens.getAccessTokenPayloadSecurely();
            token = { issuedAt: payload.iat * 1000, expiresAt: payload.exp * 1000 };
            setText("status", "Signed in (" + mode + " mode).");
            setText("user-id", userId);
            setText("payload", pretty(payload));
        }
        tick();
    }

    // ---- the SDK --------------------------------------------------------------------------

    supertokens.init({
        apiDomain: apiDomain,
        apiBasePath: "/auth",
        tokenTransferMethod: mode,
        onHandleEvent: function (event) {
            var record = { action: event.action, at: Date.now() };
            if ("sessionExpiredOrRevoked" in event) {
                record.sessionExpiredOrRevoked = event.sessionExpiredOrRevoked;
            }
            window.__events.push(record);
            showEvent(record);
            // Not synchronously: ACCESS_TOKEN_PAYLOAD_UPDATED fires just before the SDK stores the
            // new front-token, and reading the old, expired one would start a refresh of our own.
            setTimeout(function () {
                renderSession().catch(console.error);
            }, 0);
        },
    });

    // ---- the API --------------------------------------------------------------------------

    async function call(method, path, body) {
        var init = { method: method, headers: {} };
        if (body !== undefined) {
            init.headers["Content-Type"] = "application/json";
            init.body = JSON.stringify(body);
        }
        var response = await fetch(apiDomain + path, init); // intercepted by the SDK
        var text = await response.text();
        var parsed = text;
        try {
            parsed = JSON.parse(text);
        } catch (ignored) {
            // not JSON: keep the text
        }
        var result = { status: response.status, body: parsed };
        showResponse(method, path, result);
        return result;
    }

    async function login(username, password) {
        var result = await call("POST", "/api/login", { username: username, password: password });
        var error = $("login-error");
        if (error) {
            error.hidden = result.status === 200;
            error.textContent = result.status === 200 ? "" : (result.body && result.body.message) || "login failed";
        }
        return result;
    }

    async function signOut() {
        await supertokens.signOut();
        setText("response", "signOut() done");
    }

    async function refresh() {
        var refreshed = await supertokens.attemptRefreshingSession();
        setText("response", "attemptRefreshingSession() → " + refreshed);
        return refreshed;
    }

    function jsonFrom(textareaId) {
        try {
            return JSON.parse($(textareaId).value);
        } catch (error) {
            setText("response", "Not valid JSON: " + error.message);
            return undefined;
        }
    }

    window.demo = {
        apiDomain: apiDomain,
        mode: mode,
        call: call,
        login: login,
        signOut: signOut,
        refresh: refresh,
        renderSession: renderSession,
    };

    // ---- wiring ---------------------------------------------------------------------------

    setText("mode", mode === "header" ? "headers" : "cookies");
    var switchMode = $("switch-mode");
    if (switchMode) {
        switchMode.href = mode === "header" ? "?" : "?mode=header";
        switchMode.textContent = mode === "header" ? "use cookie mode" : "use header mode";
    }

    on("login-form", "submit", function (event) {
        event.preventDefault();
        login($("username").value, $("password").value).catch(console.error);
    });
    document.querySelectorAll("[data-call]").forEach(function (button) {
        button.addEventListener("click", function () {
            var parts = button.getAttribute("data-call").split(" ");
            call(parts[0], parts[1]).catch(console.error);
        });
    });
    on("payload-form", "submit", function (event) {
        event.preventDefault();
        var body = jsonFrom("payload-input");
        if (body !== undefined) call("POST", "/api/jwt-payload", body).catch(console.error);
    });
    on("data-form", "submit", function (event) {
        event.preventDefault();
        var body = jsonFrom("data-input");
        if (body !== undefined) call("POST", "/api/session-data", body).catch(console.error);
    });
    on("refresh-button", "click", function () {
        refresh().catch(console.error);
    });
    on("revoke-all-button", "click", function () {
        call("POST", "/api/revoke-all").catch(console.error);
    });
    on("sign-out-button", "click", function () {
        signOut().catch(console.error);
    });

    setInterval(tick, 100);
    // The first check: on a fresh browser the SDK probes the refresh endpoint once (401).
    renderSession()
        .catch(console.error)
        .finally(function () {
            window.__ready = true;
        });
})();
