// tpns-mock dashboard. Hand-written, no dependencies, no build step.
//
// Everything shown comes from the /_mock/ JSON endpoints of the server that served this page,
// fetched with relative URLs (same origin). Text from the server (file names, accounts, error
// messages, request bodies) is only ever set as textContent, never parsed as HTML.
"use strict";

(() => {
  const PAGE_SIZE = 50;
  const ACCOUNT_PAGE_SIZE = 100;
  const POLL_MS = 2000;
  const PUSH_STATUS_BADGES = {
    PUSH_FINISHED: "good",
    PUSH_FAILED: "bad",
    PUSH_INIT: "warn",
    PUSH_WAIT: "warn",
    PUSH_STARTED: "warn",
  };

  const state = {
    app: "",
    offsets: { uploads: 0, pushes: 0, requests: 0 },
    shown: {}, // what each table last rendered, to leave unchanged tables (and focus) alone
    polling: false,
    journalOff: false,
    account: { uploadId: null, offset: 0, q: "" },
  };

  // -- helpers ------------------------------------------------------------------------------

  const $ = (selector) => document.querySelector(selector);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "title" || key === "type" || key === "datetime" || key === "colspan" || key === "scope") {
        node.setAttribute(key, String(value));
      } else node[key] = value;
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const number = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "—");

  function bytes(n) {
    if (typeof n !== "number") return "—";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  function when(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return el("span", { text: iso });
    const pad = (v, w = 2) => String(v).padStart(w, "0");
    const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
    const today = new Date().toDateString() === date.toDateString();
    const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
    return el("time", { datetime: iso, title: iso, text: today ? time : `${day} ${time}` });
  }

  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new Error("the mock did not answer (is it still running?)");
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (error) {
      data = null;
    }
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      if (data && typeof data.message === "string") message = data.message;
      else if (data && Array.isArray(data.detail)) message = data.detail.map((d) => d.msg).join("; ");
      else if (data && typeof data.detail === "string") message = data.detail;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== "" && value !== null && value !== undefined) search.set(key, String(value));
    }
    return search.toString();
  }

  function say(message, bad = false) {
    const status = $("#status");
    status.textContent = message;
    status.classList.toggle("bad", bad);
  }

  // Replace a table body, unless what it shows has not changed; keep keyboard focus on the
  // same control (by its data-key) when it has.
  function renderRows(name, tbody, data, makeRows, columns, emptyText) {
    const signature = JSON.stringify(data);
    if (state.shown[name] === signature) return;
    state.shown[name] = signature;
    const focused = document.activeElement && tbody.contains(document.activeElement)
      ? document.activeElement.getAttribute("data-key") : null;
    const rows = makeRows();
    tbody.replaceChildren(...(rows.length ? rows
      : [el("tr", {}, el("td", { className: "empty", colspan: columns, text: emptyText }))]));
    labelCells(tbody);
    if (focused) {
      const again = tbody.querySelector(`[data-key="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  // On a narrow window a table of class "stack" shows each row as a card, each cell with its
  // column's name before it (CSS reads data-label); the ARIA roles keep it a table for screen
  // readers, which drop a table's semantics once its display is no longer table.
  function labelCells(tbody) {
    const table = tbody.closest("table.stack");
    if (!table) return;
    const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const row of tbody.rows) {
      row.setAttribute("role", "row");
      [...row.cells].forEach((cell, index) => {
        cell.setAttribute("role", "cell");
        if (cell.colSpan === 1 && names[index] && names[index] !== "Actions") {
          cell.setAttribute("data-label", names[index]);
          // one box beside the label, however many lines the cell holds
          if (cell.childNodes.length > 1) cell.replaceChildren(el("div", {}, [...cell.childNodes]));
        }
      });
    }
  }

  function markTables() {
    for (const table of document.querySelectorAll("table.stack")) {
      for (const group of table.querySelectorAll("thead, tbody")) group.setAttribute("role", "rowgroup");
      for (const row of table.querySelectorAll("thead tr")) row.setAttribute("role", "row");
      for (const th of table.querySelectorAll("thead th")) th.setAttribute("role", "columnheader");
    }
  }

  function renderPager(container, what, offset, limit, total, more, onMove) {
    // total is null where it is not known yet (a search not scanned to its end)
    const count = total === undefined ? null : total;
    const first = offset + 1;
    const last = offset + limit;
    let label;
    if (count === 0) label = "";
    else if (count === null) label = `${number(first)}–${number(last)}`;
    else label = `${number(Math.min(first, count))}–${number(Math.min(last, count))} of ${number(count)}`;
    const hasNext = count === null ? more : offset + limit < count;
    const signature = JSON.stringify([label, offset, hasNext]);
    if (container.dataset.shown === signature) return;
    container.dataset.shown = signature;
    const focused = document.activeElement && container.contains(document.activeElement)
      ? document.activeElement.getAttribute("data-key") : null;
    if (!label || (offset === 0 && !hasNext)) {
      container.replaceChildren(label ? el("span", { className: "muted", text: label }) : "");
      return;
    }
    const previous = el("button", {
      type: "button", "data-key": "previous", text: "Previous",
      "aria-label": `Previous page of ${what}`, disabled: offset === 0,
      onclick: () => onMove(Math.max(0, offset - limit)),
    });
    const next = el("button", {
      type: "button", "data-key": "next", text: "Next",
      "aria-label": `Next page of ${what}`, disabled: !hasNext,
      onclick: () => onMove(offset + limit),
    });
    container.replaceChildren(previous, el("span", { text: label }), next);
    const again = focused && container.querySelector(`[data-key="${focused}"]:not(:disabled)`);
    if (again) again.focus();
    else if (focused) (focused === "next" ? previous : next).focus();
  }

  // -- settings -----------------------------------------------------------------------------

  async function loadSettings() {
    const settings = await api("GET", "settings");
    state.journalOff = settings.journalSize === 0;
    delete state.shown.requests;
    $("#version").textContent = `v${settings.version}`;
    const rate = settings.rateLimit.enabled
      ? `1 push per ${settings.rateLimit.intervalS} s per app` : "off";
    const items = [
      ["Rules", settings.rules],
      ["Rate limit", rate],
      ["AccessIds", settings.accessIds.join(", ")],
      ["Journal keeps", number(settings.journalSize)],
    ];
    $("#settings").replaceChildren(...items.map(([term, value]) =>
      el("div", {}, el("dt", { text: term }), el("dd", { text: value }))));
    const filter = $("#app-filter");
    filter.replaceChildren(el("option", { value: "", text: "All apps" }),
      ...settings.accessIds.map((id) => el("option", { value: id, text: id })));
    filter.value = state.app;
  }

  // -- uploads ------------------------------------------------------------------------------

  async function loadUploads() {
    const offset = state.offsets.uploads;
    const data = await api("GET", `uploads?${query({ limit: PAGE_SIZE, offset, accessId: state.app })}`);
    $("#uploads-total").textContent = `(${number(data.total)})`;
    renderRows("uploads", $("#uploads-table tbody"), data, () => data.uploads.map((u) =>
      el("tr", { "data-upload-id": u.uploadId },
        el("td", { className: "num", text: u.uploadId }),
        el("td", { className: "wrap" }, el("span", { className: "mono", text: u.fileName }),
          u.member && u.member !== u.fileName ? el("div", { className: "muted", text: u.member }) : null),
        el("td", { text: u.accessId }),
        el("td", { className: "num", text: number(u.accountCount) }),
        el("td", { className: "num nowrap", text: bytes(u.uploadBytes) }),
        el("td", { className: "nowrap" }, when(u.createdAt)),
        el("td", {}, el("button", {
          type: "button", "data-key": `open-${u.uploadId}`, text: "Accounts",
          "aria-label": `Accounts of upload ${u.uploadId} (${u.fileName})`,
          onclick: () => openUpload(u.uploadId),
        })))), 7, state.app ? "No uploads from this app yet." : "No uploads yet.");
    renderPager($("#uploads-pager"), "uploads", offset, PAGE_SIZE, data.total, false, (to) => {
      state.offsets.uploads = to;
      loadUploads().catch(showError);
    });
  }

  async function openUpload(uploadId) {
    const dialog = $("#upload-dialog");
    state.account = { uploadId, offset: 0, q: "" };
    $("#account-query").value = "";
    $("#upload-dialog-title").textContent = `Upload ${uploadId}`;
    $("#upload-dialog-meta").textContent = "";
    $("#accounts-table tbody").replaceChildren();
    $("#accounts-pager").replaceChildren();
    delete $("#accounts-pager").dataset.shown;
    if (!dialog.open) dialog.showModal();
    try {
      const upload = await api("GET", `uploads/${uploadId}`);
      $("#upload-dialog-title").textContent = `Upload ${upload.uploadId}: ${upload.fileName}`;
      $("#upload-dialog-meta").textContent = `App ${upload.accessId} · ${number(upload.accountCount)} accounts`
        + ` · ${bytes(upload.uploadBytes)} · ${upload.member} · rules ${upload.rules} · sha256 ${upload.sha256}`;
      await loadAccounts();
    } catch (error) {
      $("#accounts-summary").textContent = error.status === 404
        ? `Upload ${uploadId} is gone (forgotten by a reset).` : `Could not load it: ${error.message}`;
    }
    $("#account-query").focus();
  }

  async function loadAccounts() {
    const { uploadId, offset, q } = state.account;
    const data = await api("GET",
      `uploads/${uploadId}/accounts/page?${query({ offset, limit: ACCOUNT_PAGE_SIZE, q })}`);
    if (state.account.uploadId !== uploadId) return;
    const body = $("#accounts-table tbody");
    body.replaceChildren(...(data.accounts.length ? data.accounts.map((a) =>
      el("tr", {}, el("td", { className: "num", text: a.line }), el("td", { className: "mono", text: a.account })))
      : [el("tr", {}, el("td", { className: "empty", colspan: 2, text: q ? "No account holds that." : "No accounts." }))]));
    const shown = data.accounts.length;
    let summary;
    if (!q) {
      summary = `Accounts ${number(shown ? offset + 1 : 0)}–${number(offset + shown)} of ${number(data.accountCount)}`;
    } else {
      const of = data.matches === null ? "" : ` of ${number(data.matches)}`;
      summary = shown ? `Matches ${number(offset + 1)}–${number(offset + shown)}${of} for “${q}”`
        : `No matches for “${q}”`;
    }
    $("#accounts-summary").textContent = summary;
    const total = q ? data.matches : data.accountCount;
    renderPager($("#accounts-pager"), "accounts", offset, ACCOUNT_PAGE_SIZE, total, data.more, (to) => {
      state.account.offset = to;
      loadAccounts().catch((error) => { $("#accounts-summary").textContent = error.message; });
    });
  }

  // -- pushes -------------------------------------------------------------------------------

  function pushStatus(p) {
    if (!p.status) return el("span", { className: "muted", title: "no status recorded", text: "—" });
    return el("span", { className: `badge ${PUSH_STATUS_BADGES[p.status] || "plain"}`, text: p.status });
  }

  async function loadPushes() {
    const offset = state.offsets.pushes;
    const data = await api("GET", `pushes?${query({ limit: PAGE_SIZE, offset, accessId: state.app })}`);
    $("#pushes-total").textContent = `(${number(data.total)})`;
    renderRows("pushes", $("#pushes-table tbody"), data, () => data.pushes.map((p) =>
      el("tr", { "data-push-id": p.pushId },
        el("td", { className: "num", text: p.pushId }),
        el("td", { text: p.accessId }),
        el("td", {}, el("span", { className: "mono", text: p.audienceType }),
          el("div", { className: "muted", text: `${p.messageType} · ${p.platform} · ${p.environment}` })),
        el("td", {}, p.uploadId === null || p.uploadId === undefined ? el("span", { className: "muted", text: "—" })
          : el("button", {
            type: "button", className: "link", "data-key": `push-upload-${p.pushId}`,
            text: `#${p.uploadId}`, "aria-label": `Accounts of upload ${p.uploadId}`,
            onclick: () => openUpload(p.uploadId),
          }), typeof p.targetCount === "number" ? el("div", { className: "muted", text: `${number(p.targetCount)} accounts` }) : null),
        el("td", {}, pushStatus(p)),
        el("td", { className: "nowrap" }, when(p.createdAt)),
        el("td", {}, el("button", {
          type: "button", "data-key": `body-${p.pushId}`, text: "Request",
          "aria-label": `Request body of push ${p.pushId}`,
          onclick: () => openPush(p),
        })))), 7, state.app ? "No pushes from this app yet." : "No pushes yet.");
    renderPager($("#pushes-pager"), "pushes", offset, PAGE_SIZE, data.total, false, (to) => {
      state.offsets.pushes = to;
      loadPushes().catch(showError);
    });
  }

  function openPush(push) {
    $("#push-dialog-title").textContent = `Push ${push.pushId}`;
    const status = push.status ? ` · ${push.status}` : "";
    $("#push-dialog-meta").textContent = `App ${push.accessId} · ${push.audienceType}`
      + `${push.uploadId ? ` · upload ${push.uploadId}` : ""}${status} · ${push.createdAt}`;
    $("#push-body").textContent = JSON.stringify(push.request, null, 2);
    $("#push-dialog").showModal();
  }

  // -- request journal ----------------------------------------------------------------------

  function refused(r) {
    return Boolean(r.dropped) || (typeof r.status === "number" && r.status >= 400)
      || (typeof r.retCode === "number" && r.retCode !== 0);
  }

  // the scheme a request used: the journal's own field when it has one, else read off the
  // (redacted) headers it kept
  function authScheme(r) {
    if (r.auth) return r.auth;
    const headers = r.headers || {};
    if (typeof headers.authorization === "string" && /^basic\b/i.test(headers.authorization)) return "basic";
    if ("sign" in headers) return "sign";
    return "";
  }

  async function loadRequests() {
    const offset = state.offsets.requests;
    const refusedOnly = $("#refused-only").checked;
    const params = { limit: PAGE_SIZE, offset, accessId: state.app, refused: refusedOnly || "" };
    const data = await api("GET", `requests?${query(params)}`);
    $("#requests-total").textContent = `(${number(data.total)})`;
    renderRows("requests", $("#requests-table tbody"), data, () => data.requests.map((r) => {
      const bad = refused(r);
      const statusCell = r.dropped ? el("span", { className: "badge bad", text: "dropped" })
        : (r.status === null || r.status === undefined ? "—" : String(r.status));
      return el("tr", { className: bad ? "refused" : null, "data-request-id": r.id },
        el("td", { className: "nowrap" }, when(r.time),
          bad ? el("div", {}, el("span", { className: "badge bad", text: "refused" })) : null),
        el("td", { text: r.method }),
        el("td", { className: "path mono", text: r.query ? `${r.path}?${r.query}` : r.path }),
        el("td", { className: "num" }, statusCell),
        el("td", { className: "num", text: r.retCode === null || r.retCode === undefined ? "—" : r.retCode }),
        el("td", { className: `wrap ${bad ? "errmsg" : ""}`, text: bad ? r.errMsg || "" : "" }),
        el("td", { className: "num", text: r.durationMs }),
        el("td", { text: r.accessId || "—" }),
        el("td", { text: authScheme(r) || "—" },
          r.faultId ? el("div", {}, el("span", { className: "badge warn", text: `fault ${r.faultId}` })) : null),
        el("td", {}, el("button", {
          type: "button", "data-key": `request-${r.id}`, text: "Details",
          "aria-label": `Details of request ${r.id}`, onclick: () => openRequest(r),
        })));
    }), 10, state.journalOff ? "The journal is off (--journal-size 0)."
      : (refusedOnly ? "No refusals." : "No requests yet."));
    renderPager($("#requests-pager"), "requests", offset, PAGE_SIZE, data.total, false, (to) => {
      state.offsets.requests = to;
      loadRequests().catch(showError);
    });
  }

  function openRequest(entry) {
    $("#request-dialog-title").textContent = `Request ${entry.id}: ${entry.method} ${entry.path}`;
    $("#request-entry").textContent = JSON.stringify(entry, null, 2);
    $("#request-dialog").showModal();
  }

  // -- faults -------------------------------------------------------------------------------

  function faultAnswer(f) {
    if (f.action === "drop") return "no answer (connection dropped)";
    if (f.action === "delay") return "the normal answer";
    if (f.action === "fail") return "the normal answer; the push ends PUSH_FAILED";
    return `${f.retCode} ${f.errMsg || ""} (HTTP ${f.httpStatus})`;
  }

  async function loadFaults() {
    const data = await api("GET", "faults");
    $("#faults-total").textContent = `(${number(data.faults.length)})`;
    renderRows("faults", $("#faults-table tbody"), data, () => data.faults.map((f) =>
      el("tr", { "data-fault-id": f.id },
        el("td", { className: "num", text: f.id }),
        el("td", { className: "wrap mono", text: f.path }),
        el("td", { text: f.method || "any" }),
        el("td", { text: f.action }),
        el("td", { className: "wrap", text: faultAnswer(f) }),
        el("td", { className: "num", text: number(f.delayMs) }),
        el("td", { className: "num", text: f.remaining === null ? "every time" : (f.remaining === 0 ? "0 (spent)" : number(f.remaining)) }),
        el("td", { className: "num", text: number(f.fired) }),
        el("td", {}, el("button", {
          type: "button", "data-key": `disarm-${f.id}`, text: "Disarm",
          "aria-label": `Disarm fault ${f.id}`, onclick: () => disarm(f.id),
        })))), 9, "No faults armed.");
    $("#faults-clear").disabled = data.faults.length === 0;
  }

  async function disarm(id) {
    try {
      await api("DELETE", `faults/${id}`);
      say(`Fault ${id} disarmed.`);
    } catch (error) {
      say(`Could not disarm fault ${id}: ${error.message}`, true);
    }
    await loadFaults().catch(showError);
    const next = $("#faults-table tbody button") || $("#fault-form [name=path]");
    next.focus();
  }

  function showAction() {
    const action = $("#fault-form [name=action]").value;
    for (const label of document.querySelectorAll("[data-for-action]")) {
      label.hidden = label.getAttribute("data-for-action") !== action;
    }
  }

  function faultBody(form) {
    const value = (name) => form.elements[name].value.trim();
    const integer = (name) => {
      const text = value(name);
      return text === "" ? undefined : Number(text);
    };
    const body = { path: value("path"), action: value("action") };
    if (value("method")) body.method = value("method");
    if (body.action === "error") {
      body.retCode = integer("retCode");
      if (value("errMsg")) body.errMsg = form.elements.errMsg.value;
      if (value("httpStatus")) body.httpStatus = integer("httpStatus");
    }
    if (value("delayMs")) body.delayMs = integer("delayMs");
    body.times = form.elements.always.checked ? null : integer("times");
    if (value("probability")) body.probability = Number(value("probability"));
    return body;
  }

  async function armFault(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = $("#fault-error");
    error.textContent = "";
    try {
      const fault = await api("POST", "faults", faultBody(form));
      say(`Fault ${fault.id} armed on ${fault.path}.`);
    } catch (failure) {
      error.textContent = `Not armed: ${failure.message}`;
      return;
    }
    await loadFaults().catch(showError);
  }

  // -- reset --------------------------------------------------------------------------------

  async function reset() {
    const dialog = $("#reset-dialog");
    try {
      await api("POST", "reset", {});
    } catch (error) {
      dialog.close();
      say(`Reset failed: ${error.message}`, true);
      return;
    }
    dialog.close();
    state.offsets = { uploads: 0, pushes: 0, requests: 0 };
    say("The mock was reset: no uploads, pushes, requests or faults.");
    await refresh();
  }

  // -- refreshing ---------------------------------------------------------------------------

  function showError(error) {
    say(`Could not refresh: ${error.message}`, true);
  }

  async function refresh() {
    const results = await Promise.allSettled([loadUploads(), loadPushes(), loadRequests(), loadFaults()]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) showError(failed.reason);
    else if ($("#status").classList.contains("bad")) say("");
    document.body.dataset.refreshed = String(Date.now());
  }

  async function poll() {
    if (state.polling || document.hidden || !$("#live").checked) return;
    state.polling = true;
    try {
      await refresh();
    } finally {
      state.polling = false;
    }
  }

  function closeOnButton(dialog) {
    for (const button of dialog.querySelectorAll("[data-close]")) {
      button.addEventListener("click", () => dialog.close());
    }
  }

  function start() {
    markTables();
    $("#app-filter").addEventListener("change", (event) => {
      state.app = event.target.value;
      state.offsets = { uploads: 0, pushes: 0, requests: 0 };
      refresh();
    });
    $("#fault-form").addEventListener("submit", armFault);
    $("#fault-form [name=action]").addEventListener("change", showAction);
    $("#fault-form [name=always]").addEventListener("change", (event) => {
      $("#fault-form [name=times]").disabled = event.target.checked;
    });
    showAction();
    $("#faults-clear").addEventListener("click", async () => {
      try {
        await api("DELETE", "faults");
        say("Every fault disarmed.");
      } catch (error) {
        say(`Could not disarm: ${error.message}`, true);
      }
      await loadFaults().catch(showError);
    });
    $("#reset-open").addEventListener("click", () => $("#reset-dialog").showModal());
    $("#reset-confirm").addEventListener("click", reset);
    for (const dialog of document.querySelectorAll("dialog")) closeOnButton(dialog);
    $("#upload-dialog").addEventListener("close", () => { state.account.uploadId = null; });
    $("#account-search").addEventListener("submit", (event) => {
      event.preventDefault();
      state.account.offset = 0;
      state.account.q = $("#account-query").value.trim();
      delete $("#accounts-pager").dataset.shown;
      loadAccounts().catch((error) => { $("#accounts-summary").textContent = error.message; });
    });
    $("#live").addEventListener("change", poll);
    $("#requests-clear").addEventListener("click", async () => {
      try {
        await api("DELETE", "requests");
        say("The journal was cleared.");
      } catch (error) {
        say(`Could not clear the journal: ${error.message}`, true);
      }
      state.offsets.requests = 0;
      await loadRequests().catch(showError);
    });
    $("#refused-only").addEventListener("change", () => {
      state.offsets.requests = 0;
      loadRequests().catch(showError);
    });
    loadSettings().catch(showError);
    refresh();
    setInterval(poll, POLL_MS);
    document.addEventListener("visibilitychange", poll);
  }

  start();
})();
