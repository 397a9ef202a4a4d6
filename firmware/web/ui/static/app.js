// The pages' only script: API calls with the CSRF token, the live state from the event stream,
// and the tables on each page. No framework, no build step.
"use strict";
const csrf = document.body.dataset.csrf;

async function api(method, path, body) {
  const opt = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  const res = await fetch("/api/v1/" + path, opt);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
  if (!res.ok) throw new Error((data && data.error) || res.statusText);
  return data;
}

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  return e;
}

function fillTable(id, rows, cells) {
  const body = document.querySelector("#" + id + " tbody");
  if (!body) return;
  body.replaceChildren();
  if (!rows || rows.length === 0) {
    const tr = el("tr");
    const td = el("td", "none", { colspan: body.parentElement.querySelectorAll("th").length });
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const r of rows) {
    const tr = el("tr");
    for (const c of cells(r)) tr.append(c instanceof Node ? wrapTD(c) : el("td", c));
    body.append(tr);
  }
}
function wrapTD(n) { const td = el("td"); td.append(n); return td; }

function setText(id, v) { const e = document.getElementById(id); if (e) e.textContent = v; }

function showState(s) {
  const reg = document.getElementById("registration");
  if (reg) {
    reg.replaceChildren(el("span", s.registration + (s.registration_detail && s.registration !== "registered" ? " (" + s.registration_detail + ")" : ""),
      { class: "badge " + s.registration }));
  }
  setText("call", s.call);
  setText("peer", s.peer ? (s.direction === "in" ? "from " : "to ") + s.peer : "");
  setText("duration", s.duration ? Math.round(s.duration) + " s" : "");
}

function follow() {
  const ev = new EventSource("/api/v1/events");
  ev.addEventListener("state", (m) => showState(JSON.parse(m.data)));
  ev.onerror = () => { ev.close(); setTimeout(follow, 3000); };
}

async function phonesTable() {
  const phones = await api("GET", "phones");
  fillTable("phones", phones, (p) => [p.mac, p.extension, p.model || "", p.last_fetch ? new Date(p.last_fetch).toLocaleString() : ""]);
}

async function dashboard() {
  const s = await api("GET", "status");
  showState(s);
  setText("addresses", (s.addresses || []).join(", "));
  const reg = s.registrar || {};
  fillTable("bindings", reg.bindings, (b) => [b.extension + " (" + b.aor + ")", b.source, b.transport, b.user_agent || "", b.expires_in + " s", b.reachable === false ? "no" : "yes"]);
  try {
    await phonesTable();
  } catch (e) { fillTable("phones", [], null); }
  const bans = await api("GET", "bans");
  fillTable("bans", bans, (b) => {
    const btn = el("button", "Unban", { type: "button" });
    btn.onclick = async () => { await api("DELETE", "bans/" + encodeURIComponent(b.source)); dashboard(); };
    return [b.source, b.service === "sip" ? "SIP" : "web pages", new Date(b.until).toLocaleTimeString(), b.reason || "", btn];
  });
}

function passwordForm() {
  const f = document.getElementById("password-form");
  if (!f) return;
  f.onsubmit = async (e) => {
    e.preventDefault();
    const msg = f.querySelector(".msg");
    try {
      const r = await api("POST", "web/password", { current: f.current.value, new: f.new.value });
      msg.className = "msg ok"; msg.textContent = r.message;
      setTimeout(() => { location.href = "/login"; }, 1500);
    } catch (err) { msg.className = "msg error"; msg.textContent = err.message; }
  };
}

async function volumeControls() {
  const box = document.getElementById("volumes");
  try {
    const v = await api("GET", "volume");
    for (const k of ["speaker", "ringer", "mic"]) {
      const input = box.querySelector("[name=" + k + "]");
      input.value = v[k];
      input.onchange = async () => { await api("POST", "volume", { [k]: Number(input.value) }); };
    }
  } catch (e) { box.hidden = true; }
}

function phonePage() {
  volumeControls();
  const num = document.getElementById("number");
  const msg = document.querySelector(".msg");
  // Each press waits for the one before: a burst of taps keeps its order (as digits in the box or
  // as DTMF in a call), whichever status answer comes back first.
  let presses = Promise.resolve();
  document.querySelectorAll(".key").forEach((k) => {
    k.onclick = () => {
      const key = k.dataset.key;
      presses = presses.then(async () => {
        try {
          const st = await api("GET", "status");
          if (st.call === "in_call") await api("POST", "dtmf", { digits: key });
          else num.value += key;
        } catch (e) { msg.textContent = e.message; }
      });
    };
  });
  document.querySelectorAll("[data-act]").forEach((b) => {
    b.onclick = async () => {
      const act = b.dataset.act;
      let body = {};
      if (act === "dial" || act === "transfer") body = { to: num.value.trim() };
      try {
        showState(await api("POST", act, body));
        msg.className = "msg"; msg.textContent = "";
        if (act === "dial") num.value = "";
      } catch (e) { msg.className = "msg error"; msg.textContent = e.message; }
    };
  });
}

async function accountsPage() {
  const list = await api("GET", "accounts");
  fillTable("accounts", list, (a) => {
    const pw = el("button", "Show", { type: "button" });
    pw.onclick = async () => {
      const r = await api("GET", "accounts/" + a.extension + "/password");
      pw.replaceWith(el("code", r.password, { class: "password" }));
    };
    const acts = el("span");
    const qr = el("button", "QR code", { type: "button" });
    qr.onclick = async () => {
      const r = await api("POST", "accounts/" + a.extension + "/setup-link", {});
      const box = document.getElementById("qr");
      box.replaceChildren();
      const img = el("img", null, { alt: "QR code for " + a.extension, src: "data:image/svg+xml;base64," + btoa(r.svg), width: 232, height: 232 });
      box.append(img);
      setText("qr-url", r.url);
      document.getElementById("qr-card").hidden = false;
    };
    acts.append(qr);
    if (a.editable) {
      const ren = el("button", "Rename", { type: "button" });
      ren.onclick = async () => {
        const n = prompt("Name for " + a.extension, a.display_name);
        if (n === null) return;
        try { await api("PATCH", "accounts/" + a.extension, { display_name: n }); accountsPage(); } catch (e) { alert(e.message); }
      };
      const regen = el("button", "New password", { type: "button" });
      regen.onclick = async () => {
        if (!confirm("Give " + a.extension + " a new password? Its phone must be set up again.")) return;
        const r = await api("POST", "accounts/" + a.extension + "/password", {});
        pw.replaceWith(el("code", r.password, { class: "password" }));
      };
      const del = el("button", "Remove", { type: "button", class: "stop" });
      del.onclick = async () => {
        if (!confirm("Remove account " + a.extension + "?")) return;
        try { await api("DELETE", "accounts/" + a.extension); accountsPage(); } catch (e) { alert(e.message); }
      };
      acts.append(" ", ren, " ", regen, " ", del);
    }
    return [a.extension, a.username, a.display_name, a.origin, pw, acts];
  });
}

function addAccountForm() {
  const f = document.getElementById("add-account");
  f.onsubmit = async (e) => {
    e.preventDefault();
    const msg = f.querySelector(".msg");
    try {
      const r = await api("POST", "accounts", { extension: f.extension.value.trim(), username: f.username.value.trim(), display_name: f.display_name.value });
      msg.className = "msg ok";
      msg.textContent = "Added " + r.account.extension + " (" + r.account.username + "), password " + r.password;
      f.reset();
      accountsPage();
    } catch (err) { msg.className = "msg error"; msg.textContent = err.message; }
  };
}

async function pairingPage() {
  const msg = document.querySelector(".msg");
  const refresh = async () => {
    try {
      const st = await api("GET", "pairing");
      setText("pairing-state", st.open ? "open, " + st.seconds_left + " s left" : "closed");
      await phonesTable();
    } catch (e) { msg.textContent = e.message; }
  };
  document.getElementById("pair-open").onclick = async () => {
    try { const r = await api("POST", "pairing", { seconds: 300 }); msg.textContent = r.message || ""; } catch (e) { msg.textContent = e.message; }
    refresh();
  };
  document.getElementById("pair-close").onclick = async () => {
    try { await api("DELETE", "pairing"); } catch (e) { msg.textContent = e.message; }
    refresh();
  };
  refresh();
  setInterval(refresh, 2000);
}

// plot draws jitter (ms, blue) and loss (%, red) over the call as inline SVG.
function plot(samples) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 120 30");
  svg.setAttribute("width", "120");
  svg.setAttribute("height", "30");
  svg.setAttribute("class", "plot");
  if (!samples || samples.length < 2) return svg;
  const tmax = samples[samples.length - 1].t || 1;
  const jmax = Math.max(5, ...samples.map((s) => s.jitter_ms));
  const line = (key, max, color) => {
    const p = document.createElementNS(NS, "polyline");
    p.setAttribute("points", samples.map((s) => (s.t / tmax * 118 + 1).toFixed(1) + "," + (29 - Math.min(1, s[key] / max) * 28).toFixed(1)).join(" "));
    p.setAttribute("fill", "none");
    p.setAttribute("stroke", color);
    p.setAttribute("stroke-width", "1");
    svg.append(p);
  };
  line("jitter_ms", jmax, "#1f6feb");
  line("loss_pct", 10, "#c62828");
  return svg;
}

async function callsPage() {
  const calls = await api("GET", "calls?limit=200");
  fillTable("calls", calls, (c) => {
    const q = c.quality || null;
    return [new Date(c.start).toLocaleString(), c.direction, c.peer, c.outcome + (c.reason ? ": " + c.reason : ""), Math.round(c.duration) + " s",
      c.transport || "", c.media || "",
      q ? q.lost + " (" + q.loss_pct.toFixed(1) + " %)" : "", q ? q.jitter_ms.toFixed(1) + " ms" : "",
      q ? q.mos.toFixed(2) : "", q ? plot(q.samples) : ""];
  });
  if (!document.getElementById("proxied")) return;
  let proxied = [];
  try { proxied = await api("GET", "registrar/calls"); } catch (e) { proxied = []; }
  fillTable("proxied", proxied, (c) => [new Date(c.start).toLocaleString(), c.caller, c.callee,
    c.state + (c.status ? " (" + c.status + ")" : "") + (c.reason ? ": " + c.reason : ""),
    Math.round(c.duration) + " s", c.caller_transport + " / " + (c.callee_transport || "–"),
    (c.caller_media || "–") + " / " + (c.callee_media || "–"), c.protection || ""]);
}

function showProblems(list) {
  const ul = document.getElementById("problems");
  ul.replaceChildren();
  for (const p of list || []) {
    const li = el("li", null, { class: "error" });
    li.append(el("span", (p.line ? "line " + p.line + ": " : "") + (p.key ? p.key + ": " : "") + p.message));
    if (p.text) li.append(" ", el("code", p.text));
    if (p.line) {
      li.onclick = () => selectLine(p.line);
      li.style.cursor = "pointer";
    }
    ul.append(li);
  }
}

function selectLine(n) {
  const ta = document.getElementById("config-text");
  const lines = ta.value.split("\n");
  let start = 0;
  for (let i = 0; i < n - 1 && i < lines.length; i++) start += lines[i].length + 1;
  ta.focus();
  ta.setSelectionRange(start, start + (lines[n - 1] || "").length);
}

async function settingsPage() {
  const ta = document.getElementById("config-text");
  const msg = document.querySelector(".msg");
  const r = await api("GET", "settings");
  setText("config-path", r.path);
  ta.value = r.text;
  document.getElementById("config-check").onclick = async () => {
    const c = await api("POST", "settings/check", { text: ta.value });
    showProblems(c.problems);
    msg.className = c.problems.length ? "msg error" : "msg ok";
    msg.textContent = c.problems.length ? c.problems.length + " problem(s)" : "No problems.";
  };
  document.getElementById("config-save").onclick = async () => {
    const res = await fetch("/api/v1/settings", { method: "PUT", headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" }, body: JSON.stringify({ text: ta.value }) });
    const data = await res.json();
    showProblems(data.problems);
    msg.className = res.ok ? "msg ok" : "msg error";
    msg.textContent = res.ok ? data.message : data.error;
  };
}

async function logsPage() {
  const pre = document.getElementById("log");
  const refresh = async () => {
    const r = await api("GET", "logs?lines=300");
    const atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 20;
    pre.textContent = r.lines.join("\n");
    if (atEnd) window.scrollTo(0, document.body.scrollHeight);
  };
  const box = document.getElementById("trace-on");
  const trace = async () => {
    const t = await api("GET", "sip-trace");
    box.checked = t.on;
    const div = document.getElementById("trace");
    div.replaceChildren();
    for (const m of t.messages.slice().reverse()) {
      const d = el("details");
      const first = m.text.split("\r\n")[0];
      d.append(el("summary", new Date(m.time).toLocaleTimeString() + " " + (m.direction === "in" ? "← " + m.remote : "→ " + m.remote) + " " + m.transport + "  " + first));
      d.append(el("pre", m.text, { class: "sip" }));
      div.append(d);
    }
  };
  box.onchange = async () => { await api("POST", "sip-trace", { on: box.checked }); trace(); };
  refresh();
  trace();
  setInterval(() => { refresh(); trace(); }, 3000);
}

const pages = {
  dashboard: () => { dashboard(); passwordForm(); follow(); },
  phone: () => { phonePage(); api("GET", "status").then(showState); follow(); },
  accounts: () => { accountsPage(); addAccountForm(); },
  pairing: pairingPage,
  calls: () => { callsPage(); setInterval(callsPage, 5000); },
  settings: settingsPage,
  logs: logsPage,
};
const start = pages[document.body.dataset.page];
if (start) start();
