// The meeting page: lobby (name, password, consent), then the room.
import { Media } from "./media.js";
import { Signal } from "./signal.js";

const $ = (selector) => document.querySelector(selector);
const meetingId = location.pathname.split("/").filter(Boolean).pop();
const CONSENT_LABELS = {
  recording: "Record my audio and video",
  transcription: "Transcribe what I say (live captions)",
  ai: "Include what I say in the AI summary",
};
const MAX_CAPTION_LINES = 6;

const state = {
  me: null,
  participants: new Map(), // id -> {id, displayName, isMuted, isVideoOn, role}
  media: null,
  signal: null,
  localStream: null,
  audio: new Map(), // participant id -> {analyser, buffer}
  captions: new Map(), // segment id -> element
  captionLog: [], // every TranscriptUpdate received, in order
  audioContext: null,
};
window.verbatim = state; // for people debugging in the console, and for the tests

function setStatus(text) {
  $("#status").textContent = text;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "content-type": "application/json", ...(options.headers || {}) },
  });
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw Object.assign(new Error(body?.detail || response.statusText), { problem: body });
  return body;
}

async function showLobby() {
  try {
    const lobby = await api(`/v1/meetings/${meetingId}/lobby`);
    $("#meeting-title").textContent = lobby.title;
    document.title = `${lobby.title} · Verbatim`;
    $("#password-row").hidden = !lobby.has_password;
    renderConsentQuestions(lobby.required_consent);
    if (lobby.status === "ended" || lobby.status === "cancelled") {
      $("#join-error").textContent = "This meeting has ended.";
      $("#join-button").disabled = true;
    }
  } catch (error) {
    $("#join-error").textContent = error.message;
    $("#join-button").disabled = true;
  }
}

function renderConsentQuestions(required) {
  const box = $("#consent-questions");
  box.replaceChildren();
  $("#consent").hidden = required.length === 0;
  for (const kind of required) {
    const row = document.createElement("div");
    row.className = "consent-question";
    row.setAttribute("role", "radiogroup");
    row.setAttribute("aria-label", CONSENT_LABELS[kind]);
    const text = document.createElement("span");
    text.textContent = CONSENT_LABELS[kind];
    row.append(text);
    for (const [value, label] of [["yes", "Yes"], ["no", "No"]]) {
      const id = `consent-${kind}-${value}`;
      const input = Object.assign(document.createElement("input"), {
        type: "radio", name: `consent-${kind}`, id, value, required: true,
      });
      const labelEl = Object.assign(document.createElement("label"), { htmlFor: id, textContent: label });
      row.append(input, labelEl);
    }
    box.append(row);
  }
}

function consentAnswers() {
  const answers = {};
  for (const input of document.querySelectorAll("#consent-questions input:checked")) {
    answers[input.name.replace("consent-", "")] = input.value === "yes";
  }
  return answers;
}

async function join(event) {
  event.preventDefault();
  $("#join-error").textContent = "";
  $("#join-button").disabled = true;
  try {
    const joined = await api(`/v1/meetings/${meetingId}/join`, {
      method: "POST",
      body: JSON.stringify({
        display_name: $("#display-name").value.trim(),
        password: $("#password").value || null,
        consent: consentAnswers(),
      }),
    });
    state.me = joined.participant;
    state.localStream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15 } },
    });
    await enterRoom(joined);
  } catch (error) {
    $("#join-error").textContent = error.message;
    $("#join-button").disabled = false;
  }
}

async function enterRoom(joined) {
  $("#lobby").hidden = true;
  $("#room").hidden = false;
  state.audioContext = new AudioContext();
  const signal = new Signal(joined.signal_url, joined.token);
  state.signal = signal;
  state.media = new Media({
    iceServers: joined.ice_servers,
    localStream: state.localStream,
    sendCandidate: (candidate) => signal.notify("SendIceCandidate", { candidate }),
  });
  state.media.addEventListener("track", (event) => attachTrack(event.detail));
  state.media.addEventListener("state", (event) => setStatus(`media: ${event.detail}`));
  wireSignal(signal);
  await signal.connect();
  const room = await signal.request("JoinRoom", { roomId: meetingId });
  for (const participant of room.participants) upsertParticipant(participant);
  for (const message of room.chat || []) appendChat(message);
  setRecording(Boolean(room.isRecording));
  setStatus("connected");
}

function wireSignal(signal) {
  signal.addEventListener("ReceiveOffer", async (event) => {
    try {
      const sdp = await state.media.answer(event.detail);
      signal.notify("SendAnswer", { sdp });
    } catch (error) {
      console.error("could not answer the SFU's offer", error);
    }
  });
  signal.addEventListener("IceCandidate", (event) => state.media.addCandidate(event.detail.candidate));
  signal.addEventListener("ParticipantJoined", (event) => upsertParticipant(event.detail));
  signal.addEventListener("ParticipantLeft", (event) => removeParticipant(event.detail.userId));
  signal.addEventListener("StateChanged", (event) => upsertParticipant(event.detail));
  signal.addEventListener("ChatMessage", (event) => appendChat(event.detail));
  signal.addEventListener("RecordingStarted", () => setRecording(true));
  signal.addEventListener("RecordingStopped", () => setRecording(false));
  signal.addEventListener("TranscriptUpdate", (event) => showCaption(event.detail));
  signal.addEventListener("rpc-error", (event) => console.warn("signaling error", event.detail));
  signal.addEventListener("close", (event) => {
    if (!signal.closedByUs) setStatus(`disconnected (${event.detail.code} ${event.detail.reason})`);
  });
}

// --------------------------------------------------------------------------- people

function upsertParticipant(data) {
  const id = data.userId;
  const known = state.participants.get(id) || { id };
  const participant = {
    ...known,
    displayName: data.displayName ?? known.displayName,
    isMuted: data.isMuted ?? known.isMuted ?? false,
    isVideoOn: data.isVideoOn ?? known.isVideoOn ?? true,
    role: data.role ?? known.role,
  };
  state.participants.set(id, participant);
  renderTile(participant);
  renderPeople();
}

function removeParticipant(id) {
  state.participants.delete(id);
  document.getElementById(`tile-${id}`)?.remove();
  state.audio.delete(id);
  renderPeople();
}

function tileFor(participant) {
  let tile = document.getElementById(`tile-${participant.id}`);
  if (tile) return tile;
  tile = document.createElement("figure");
  tile.className = "tile";
  tile.id = `tile-${participant.id}`;
  tile.dataset.participantId = participant.id;
  const video = Object.assign(document.createElement("video"), { autoplay: true, playsInline: true });
  video.muted = true; // audio plays through its own element
  const audio = Object.assign(document.createElement("audio"), { autoplay: true });
  const name = Object.assign(document.createElement("figcaption"), { className: "name" });
  const badges = Object.assign(document.createElement("div"), { className: "badges" });
  tile.append(video, audio, name, badges);
  $("#tiles").append(tile);
  return tile;
}

function renderTile(participant) {
  const tile = tileFor(participant);
  const isMe = state.me && participant.id === state.me.id;
  tile.querySelector(".name").textContent = participant.displayName + (isMe ? " (you)" : "");
  const badges = tile.querySelector(".badges");
  badges.replaceChildren();
  tile.dataset.muted = String(participant.isMuted);
  tile.dataset.videoOn = String(participant.isVideoOn);
  if (participant.isMuted) badges.append(badge("Muted"));
  if (!participant.isVideoOn) badges.append(badge("Camera off"));
  if (isMe && state.localStream && !tile.querySelector("video").srcObject) {
    tile.querySelector("video").srcObject = new MediaStream(state.localStream.getVideoTracks());
  }
}

function badge(text) {
  return Object.assign(document.createElement("span"), { className: "badge", textContent: text });
}

function renderPeople() {
  const list = $("#people");
  list.replaceChildren();
  for (const participant of state.participants.values()) {
    const item = document.createElement("li");
    const flags = [participant.isMuted ? "muted" : null, participant.isVideoOn ? null : "camera off"]
      .filter(Boolean).join(", ");
    item.textContent = participant.displayName + (flags ? ` (${flags})` : "");
    list.append(item);
  }
}

function attachTrack({ participantId, track }) {
  if (!participantId) return;
  if (!state.participants.has(participantId)) upsertParticipant({ userId: participantId, displayName: "…" });
  const tile = tileFor(state.participants.get(participantId));
  const element = tile.querySelector(track.kind === "audio" ? "audio" : "video");
  element.srcObject = new MediaStream([track]);
  if (track.kind === "audio") meterAudio(participantId, track);
}

function meterAudio(participantId, track) {
  const source = state.audioContext.createMediaStreamSource(new MediaStream([track]));
  const analyser = state.audioContext.createAnalyser();
  analyser.fftSize = 2048;
  source.connect(analyser);
  state.audio.set(participantId, { analyser, buffer: new Float32Array(analyser.fftSize) });
}

// Root-mean-square level of what we hear from a participant right now (0 = silence).
state.audioLevel = (participantId) => {
  const meter = state.audio.get(participantId);
  if (!meter) return 0;
  meter.analyser.getFloatTimeDomainData(meter.buffer);
  let sum = 0;
  for (const sample of meter.buffer) sum += sample * sample;
  return Math.sqrt(sum / meter.buffer.length);
};

// --------------------------------------------------------------------------- controls

function toggle(button, kind, onLabel, offLabel) {
  const pressed = button.getAttribute("aria-pressed") !== "true";
  button.setAttribute("aria-pressed", String(pressed));
  button.textContent = pressed ? offLabel : onLabel;
  return pressed;
}

$("#mute-button").addEventListener("click", (event) => {
  const muted = toggle(event.currentTarget, "audio", "Mute", "Unmute");
  state.media?.setEnabled("audio", !muted);
  sendState({ isMuted: muted });
});

$("#video-button").addEventListener("click", (event) => {
  const off = toggle(event.currentTarget, "video", "Stop video", "Start video");
  state.media?.setEnabled("video", !off);
  sendState({ isVideoOn: !off });
});

$("#captions-button").addEventListener("click", (event) => {
  const shown = event.currentTarget.getAttribute("aria-pressed") !== "true";
  event.currentTarget.setAttribute("aria-pressed", String(shown));
  event.currentTarget.textContent = shown ? "Hide captions" : "Show captions";
  $("#captions").hidden = !shown;
});

$("#leave-button").addEventListener("click", () => leave());

async function sendState(change) {
  try {
    await state.signal.request("UpdateState", change);
    upsertParticipant({ userId: state.me.id, ...change });
  } catch (error) {
    setStatus(`could not update your state: ${error.message}`);
  }
}

async function leave() {
  try {
    await state.signal.request("LeaveRoom", {});
  } catch (error) {
    console.warn("leave", error);
  }
  state.signal.close();
  state.media.close();
  for (const track of state.localStream.getTracks()) track.stop();
  $("#room").hidden = true;
  $("#left").hidden = false;
  $("#rejoin-link").href = location.pathname;
  setStatus("left");
}

// --------------------------------------------------------------------------- chat

$("#chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#chat-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  try {
    await state.signal.request("SendChatMessage", { text });
  } catch (error) {
    setStatus(`message not sent: ${error.message}`);
    input.value = text;
  }
});

function appendChat(message) {
  const item = document.createElement("li");
  const who = Object.assign(document.createElement("strong"), { textContent: `${message.senderName}: ` });
  item.append(who, document.createTextNode(message.text));
  if (message.isPrivate) item.append(badge("private"));
  $("#chat-log").append(item);
  item.scrollIntoView({ block: "nearest" });
}

// --------------------------------------------------------------------------- recording & captions

function setRecording(on) {
  $("#recording-indicator").hidden = !on;
  const notice = $("#notice");
  notice.hidden = !on;
  notice.textContent = on ? "This meeting is being recorded for everyone who consented." : "";
}

function showCaption(segment) {
  state.captionLog.push(segment);
  let line = state.captions.get(segment.segmentId);
  if (!line) {
    line = document.createElement("p");
    line.className = "caption";
    line.append(Object.assign(document.createElement("span"), { className: "speaker" }),
                Object.assign(document.createElement("span"), { className: "text" }));
    state.captions.set(segment.segmentId, line);
    $("#captions").append(line);
  }
  line.classList.toggle("partial", !segment.final);
  line.dataset.final = String(Boolean(segment.final));
  line.dataset.participantId = segment.participantId;
  line.querySelector(".speaker").textContent = `${segment.speakerName}:`;
  line.querySelector(".text").textContent = segment.text;
  const lines = $("#captions").children;
  while (lines.length > MAX_CAPTION_LINES) {
    const oldest = lines[0];
    for (const [id, element] of state.captions) if (element === oldest) state.captions.delete(id);
    oldest.remove();
  }
}

$("#join-form").addEventListener("submit", join);
showLobby();
