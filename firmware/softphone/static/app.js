// deskphone's browser phone: JsSIP over the Pi's SIP WebSocket, media through the Pi's WebRTC
// bridge (G.711, no STUN server). Settings stay in this browser (localStorage), never the password.
"use strict";

const $ = (id) => document.getElementById(id);
const store = window.localStorage;
const pcConfig = { iceServers: [] }; // on a LAN the Pi's host candidate is all it takes
const media = { mediaConstraints: { audio: true, video: false }, pcConfig };

let ua = null;
let session = null;
let ringer = null;
let meter = null;
let quality = null;
let timer = null;
let notification = null;

document.documentElement.dataset.jssip = window.JsSIP ? JsSIP.version : "missing";

function say(text) { $("message").textContent = text || ""; }

function instanceID() {
  let id = store.getItem("deskphone.instance");
  if (!id) {
    id = crypto.randomUUID();
    store.setItem("deskphone.instance", id);
  }
  return id; // one registration per browser, however often the page is reloaded
}

function defaultServer() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
}

function setRegistration(text, on) {
  $("reg").textContent = text;
  $("reg").className = "state " + (on ? "on" : "off");
}

// --- sign in / out

$("user").value = store.getItem("deskphone.user") || "";
$("server").value = store.getItem("deskphone.server") || defaultServer();

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const user = $("user").value.trim();
  const server = $("server").value.trim() || defaultServer();
  store.setItem("deskphone.user", user);
  store.setItem("deskphone.server", server);
  if (window.Notification && Notification.permission === "default") Notification.requestPermission();
  start(user, $("password").value, server);
});

$("logout").addEventListener("click", () => {
  if (ua) ua.stop();
  ua = null;
  $("phone").hidden = true;
  $("login").hidden = false;
  setRegistration("not signed in", false);
});

function start(user, password, server) {
  say("");
  if (ua) ua.stop();
  const host = new URL(server.replace(/^ws/, "http")).hostname;
  let socket;
  try {
    socket = new JsSIP.WebSocketInterface(server);
  } catch (e) {
    say("Server address: " + e.message);
    return;
  }
  ua = new JsSIP.UA({
    sockets: [socket],
    uri: "sip:" + user + "@" + host,
    password,
    register: true,
    instance_id: instanceID(),
    session_timers: false,
    user_agent: "deskphone web phone (JsSIP " + JsSIP.version + ")",
  });
  ua.on("connecting", () => setRegistration("connecting…", false));
  ua.on("disconnected", () => setRegistration("no connection to the Pi", false));
  ua.on("registered", () => {
    setRegistration(user + " ready", true);
    $("login").hidden = true;
    $("phone").hidden = false;
    $("password").value = "";
  });
  ua.on("unregistered", () => setRegistration("not registered", false));
  ua.on("registrationFailed", (e) => {
    setRegistration("not registered", false);
    say(e.cause === JsSIP.C.causes.AUTHENTICATION_ERROR || e.cause === JsSIP.C.causes.REJECTED
      ? "Wrong extension or password." : "Registration failed: " + e.cause);
  });
  ua.on("newRTCSession", (e) => {
    if (session) { // one call at a time
      if (e.originator === "remote") e.session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      return;
    }
    attach(e.session, e.originator === "remote" ? e.request.from : null);
  });
  ua.start();
}

// --- dial pad

$("pad").addEventListener("click", (ev) => {
  const key = ev.target.closest("button")?.dataset.key;
  if (!key) return;
  if (session && session.isEstablished()) {
    session.sendDTMF(key, { transportType: JsSIP.C.DTMF_TRANSPORT.RFC2833, duration: 120, interToneGap: 80 });
    beep(key);
  } else {
    $("number").value += key;
  }
});
$("backspace").addEventListener("click", () => { $("number").value = $("number").value.slice(0, -1); });
$("number").addEventListener("keydown", (ev) => { if (ev.key === "Enter") $("call").click(); });

$("call").addEventListener("click", () => {
  const target = $("number").value.trim();
  if (!ua || !target || session) return;
  say("");
  try {
    ua.call(target, media);
  } catch (e) {
    say("Cannot call " + target + ": " + e.message);
  }
});

$("hangup").addEventListener("click", () => { if (session) session.terminate(); });
$("answer").addEventListener("click", () => { if (session) session.answer(media); });
$("reject").addEventListener("click", () => {
  if (session) session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
});
$("mute").addEventListener("click", () => {
  if (!session) return;
  if (session.isMuted().audio) session.unmute({ audio: true }); else session.mute({ audio: true });
});
$("hold").addEventListener("click", () => {
  if (!session) return;
  const s = session;
  const resume = s.isOnHold().local;
  // The button waits for the re-INVITE to complete: another one cannot start before.
  const done = () => {
    $("hold").disabled = false;
    if (session === s) status(resume ? "connected" : "on hold");
  };
  $("hold").disabled = true;
  if (!(resume ? s.unhold({}, done) : s.hold({}, done))) {
    $("hold").disabled = false;
    say("The call is busy; try again in a moment.");
  }
});
// Blind transfer: the number typed in the number field (the pad sends DTMF during a call, the
// keyboard still types there).
$("transfer").addEventListener("click", () => {
  if (!session) return;
  const target = $("number").value.trim();
  if (!target) {
    say("Type the number to transfer to, then press Transfer.");
    $("number").focus();
    return;
  }
  say("Transferring to " + target + "…");
  session.refer(target, {
    eventHandlers: {
      // A blind transfer leaves the call once the REFER is accepted (RFC 5589 §6).
      requestSucceeded: () => { say(""); if (session) session.terminate(); },
      requestFailed: (e) => say("Transfer refused: " + (e.cause || "")),
    },
  });
});

// --- one call

function attach(s, from) {
  session = s;
  $("hangup").disabled = false;
  $("call").disabled = true;
  if (from) {
    const name = from.display_name ? from.display_name + " (" + from.uri.user + ")" : from.uri.user;
    $("caller").textContent = name;
    $("incoming").hidden = false;
    ring(true);
    notify("Incoming call", name);
  } else {
    status("calling…");
  }
  s.on("icecandidate", (e) => { if (e.candidate.type === "host") e.ready(); });
  s.on("peerconnection", (e) => wire(e.peerconnection));
  if (s.connection) wire(s.connection);
  s.on("progress", () => status(from ? "answering…" : "ringing…"));
  s.on("accepted", () => { ring(false); $("incoming").hidden = true; });
  s.on("confirmed", () => {
    status("connected");
    $("incall").hidden = false;
    startTimer();
    startMeter();
    quality = setInterval(showQuality, 2000);
  });
  s.on("hold", (e) => {
    if (e.originator === "local") { press("hold", true); status("putting on hold…"); } else status("held by the other side");
  });
  s.on("unhold", (e) => {
    if (e.originator === "local") { press("hold", false); status("resuming…"); } else status("connected");
  });
  s.on("muted", () => press("mute", true));
  s.on("unmuted", () => press("mute", false));
  s.on("ended", () => finish(""));
  s.on("failed", (e) => finish(e.cause === JsSIP.C.causes.CANCELED || e.cause === JsSIP.C.causes.BYE ? "" : "Call failed: " + e.cause));
}

function wire(pc) {
  pc.addEventListener("track", (ev) => {
    $("remote").srcObject = ev.streams[0] || new MediaStream([ev.track]);
  });
}

function finish(why) {
  ring(false);
  clearInterval(quality);
  clearInterval(timer);
  if (meter) { meter.ctx.close(); meter = null; }
  if (notification) { notification.close(); notification = null; }
  session = null;
  $("incoming").hidden = true;
  $("incall").hidden = true;
  $("hangup").disabled = true;
  $("hold").disabled = false;
  $("call").disabled = false;
  press("mute", false);
  press("hold", false);
  $("level").value = 0;
  $("quality").textContent = "—";
  $("remote").srcObject = null;
  say(why);
}

function status(text) { $("status").textContent = text; }
function press(id, on) { $(id).setAttribute("aria-pressed", on ? "true" : "false"); }

function startTimer() {
  const t0 = Date.now();
  const show = () => {
    const s = Math.floor((Date.now() - t0) / 1000);
    $("timer").textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  };
  show();
  timer = setInterval(show, 1000);
}

// startMeter shows the microphone's level as sent (zero while muted).
function startMeter() {
  const sender = session?.connection?.getSenders().find((x) => x.track && x.track.kind === "audio");
  if (!sender) return;
  const ctx = new AudioContext();
  const an = ctx.createAnalyser();
  an.fftSize = 1024;
  ctx.createMediaStreamSource(new MediaStream([sender.track])).connect(an);
  const buf = new Float32Array(an.fftSize);
  meter = { ctx };
  const draw = () => {
    if (!meter || meter.ctx !== ctx) return;
    an.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    $("level").value = sender.track.enabled ? Math.min(1, Math.sqrt(sum / buf.length) * 4) : 0;
    requestAnimationFrame(draw);
  };
  draw();
}

// showQuality reports the call's codec, jitter, loss and round trip from WebRTC statistics.
async function showQuality() {
  const pc = session?.connection;
  if (!pc) return;
  const stats = await pc.getStats();
  let codec = "", jitter = null, lost = 0, received = 0, rtt = null;
  stats.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      jitter = s.jitter; lost = s.packetsLost || 0; received = s.packetsReceived || 0;
      const c = stats.get(s.codecId);
      if (c) codec = c.mimeType.replace("audio/", "");
    }
    if (s.type === "remote-inbound-rtp" && s.kind === "audio" && s.roundTripTime != null) rtt = s.roundTripTime;
  });
  const loss = received + lost > 0 ? (100 * lost / (received + lost)) : 0;
  const parts = [codec || "?"];
  if (jitter != null) parts.push("jitter " + Math.round(jitter * 1000) + " ms");
  parts.push("loss " + loss.toFixed(1) + " %");
  if (rtt != null) parts.push("round trip " + Math.round(rtt * 1000) + " ms");
  const good = loss < 1 && (jitter == null || jitter < 0.03);
  $("quality").textContent = (good ? "good · " : "poor · ") + parts.join(" · ");
}

// --- ringing and key beeps (WebAudio, no sound files)

function ring(on) {
  if (!on) {
    if (ringer) { clearInterval(ringer.iv); ringer.ctx.close(); ringer = null; }
    return;
  }
  if (ringer) return;
  const ctx = new AudioContext();
  const burst = () => {
    for (const hz of [440, 480]) {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = hz; g.gain.value = 0.1;
      o.connect(g).connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 1);
    }
  };
  burst();
  ringer = { ctx, iv: setInterval(burst, 4000) };
}

const dtmfHz = { "1": [697, 1209], "2": [697, 1336], "3": [697, 1477], "4": [770, 1209], "5": [770, 1336], "6": [770, 1477],
  "7": [852, 1209], "8": [852, 1336], "9": [852, 1477], "*": [941, 1209], "0": [941, 1336], "#": [941, 1477] };

function beep(key) {
  const ctx = new AudioContext();
  for (const hz of dtmfHz[key] || []) {
    const o = ctx.createOscillator(), g = ctx.createGain();
    o.frequency.value = hz; g.gain.value = 0.05;
    o.connect(g).connect(ctx.destination);
    o.start(); o.stop(ctx.currentTime + 0.12);
  }
  setTimeout(() => ctx.close(), 300);
}

function notify(title, body) {
  if (!document.hidden || !window.Notification || Notification.permission !== "granted") return;
  notification = new Notification(title, { body, requireInteraction: true });
  notification.onclick = () => { window.focus(); notification.close(); };
}

window.addEventListener("beforeunload", () => { if (ua) ua.stop(); });
