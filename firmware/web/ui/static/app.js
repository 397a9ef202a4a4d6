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

async function dashboard() {
  const s = await api("GET", "status");
  showState(s);
  setText("addresses", (s.addresses || []).join(", "));
  const reg = s.registrar || {};
  fillTable("bindings", reg.bindings, (b) => [b.aor || b.user || b.account, b.source, b.transport, b.user_agent || "", b.expires ? new Date(b.expires).toLocaleTimeString() : "", b.reachable === false ? "no" : "yes"]);
  try {
    const phones = await api("GET", "phones");
    fillTable("phones", phones, (p) => [p.mac, p.extension, p.model || "", p.last_seen ? new Date(p.last_seen).toLocaleString() : ""]);
  } catch (e) { fillTable("phones", [], null); }
  const bans = await api("GET", "web/bans");
  fillTable("bans", bans, (b) => {
    const btn = el("button", "Unban", { type: "button" });
    btn.onclick = async () => { await api("DELETE", "web/bans/" + encodeURIComponent(b.source)); dashboard(); };
    return [b.source, new Date(b.until).toLocaleTimeString(), b.reason, btn];
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

function phonePage() {
  const num = document.getElementById("number");
  const msg = document.querySelector(".msg");
  document.querySelectorAll(".key").forEach((k) => {
    k.onclick = async () => {
      const st = await api("GET", "status");
      if (st.call === "in_call") {
        try { await api("POST", "dtmf", { digits: k.dataset.key }); } catch (e) { msg.textContent = e.message; }
      } else {
        num.value += k.dataset.key;
      }
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

const pages = {
  dashboard: () => { dashboard(); passwordForm(); follow(); },
  phone: () => { phonePage(); api("GET", "status").then(showState); follow(); },
};
const start = pages[document.body.dataset.page];
if (start) start();
