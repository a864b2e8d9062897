// @ts-check
// Ferry web client: what a consultation keeps of its calls, on its page:
// the chat written in the call (call-chat.js) and the consented recordings,
// played in the page. Each participant's camera is VP8 in IVF, which the
// page decodes with WebCodecs onto a canvas (call-ivf.js), kept in time with
// their microphone's Ogg Opus in an <audio> that the browser plays itself.
// The files come from the same endpoint as a download, so each playback is
// access-checked and audited like one; the list is asked for only when the
// user opens it, since listing is audited too.

import { api, el, t, when } from '../lib/ferry.js';
import * as Chat from './call-chat.js';
import { parseIvf, keyFrameBefore } from './call-ivf.js';

// Frames handed to the decoder ahead of the one shown.
const AHEAD = 10;

/** @param {string} href */
async function bytesOf(href) {
  const response = await fetch(href, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.arrayBuffer();
}

/**
 * Plays one participant's camera on `canvas`, timed by `clock` (seconds).
 * Returns a function that stops it.
 * @param {ArrayBuffer} buffer
 * @param {HTMLCanvasElement} canvas
 * @param {() => number} clock
 */
function playVideo(buffer, canvas, clock) {
  const ivf = parseIvf(buffer);
  const ctx = canvas.getContext('2d');
  canvas.width = ivf.width || 640;
  canvas.height = ivf.height || 480;
  const seconds = (pts) => (pts * ivf.scale) / ivf.rate;
  /** @type {VideoFrame[]} */
  let ready = [];
  let next = 0;
  let stopped = false;
  let decoder = null;
  const start = (index) => {
    if (decoder && decoder.state !== 'closed') decoder.close();
    for (const frame of ready) frame.close();
    ready = [];
    next = index;
    decoder = new VideoDecoder({
      output: (frame) => (stopped ? frame.close() : ready.push(frame)),
      error: (error) => console.warn('recording:', error),
    });
    decoder.configure({ codec: 'vp8', codedWidth: canvas.width, codedHeight: canvas.height });
  };
  start(0);
  let shown = -1;
  const tick = () => {
    if (stopped) return;
    const now = clock();
    // A seek: back, or well past what is decoded, starts from a key frame.
    const behind = next < ivf.frames.length && seconds(ivf.frames[next].pts) < now - 2;
    if (now < shown - 0.25 || behind) {
      start(keyFrameBefore(ivf, now));
    }
    while (next < ivf.frames.length && decoder.decodeQueueSize < AHEAD
      && seconds(ivf.frames[next].pts) <= now + 1) {
      const f = ivf.frames[next];
      decoder.decode(new EncodedVideoChunk({
        type: f.key ? 'key' : 'delta',
        timestamp: Math.round(seconds(f.pts) * 1e6),
        data: new Uint8Array(buffer, f.offset, f.size),
      }));
      next += 1;
    }
    let latest = null;
    while (ready.length && ready[0].timestamp / 1e6 <= now) {
      if (latest) latest.close();
      latest = ready.shift();
    }
    if (latest) {
      ctx.drawImage(latest, 0, 0, canvas.width, canvas.height);
      shown = latest.timestamp / 1e6;
      canvas.dataset.frames = String(Number(canvas.dataset.frames || 0) + 1);
      latest.close();
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  return () => {
    stopped = true;
    if (decoder && decoder.state !== 'closed') decoder.close();
    for (const frame of ready) frame.close();
  };
}

/**
 * One recording: who is in it, and a button that plays it here.
 * @param {any} recording a RecordingView
 * @param {Map<number, string>} names
 */
function recordingItem(recording, names) {
  const byParticipant = new Map();
  for (const file of recording.files) {
    const entry = byParticipant.get(file.participant_id) || {};
    entry[file.kind] = file;
    byParticipant.set(file.participant_id, entry);
    // Invitees are not among the consultation's names; every file names its own.
    if (file.participant_name && !names.has(file.participant_id)) names.set(file.participant_id, file.participant_name);
  }
  const player = el('div', { class: 'recording-player' });
  const error = el('p', { class: 'error', role: 'alert' });
  const stops = [];
  const play = async () => {
    button.disabled = true;
    error.textContent = '';
    try {
      const loaded = await Promise.all([...byParticipant].map(async ([participant, files]) => ({
        participant,
        video: files.video ? await bytesOf(files.video.href) : null,
        audio: files.audio ? new Blob([await bytesOf(files.audio.href)], { type: files.audio.media_type }) : null,
      })));
      // One clock for all: the first microphone's once it plays, or the
      // page's own when there is no sound or the browser will not start it
      // by itself (then the user's play button takes over).
      let master = null;
      const began = performance.now();
      const clock = () => (master && (!master.paused || master.currentTime > 0)
        ? master.currentTime : (performance.now() - began) / 1000);
      for (const { participant, video, audio } of loaded) {
        const who = names.get(participant) || t('call.share.someone');
        const figure = el('figure', { class: 'recorded', dataset: { participant } }, el('figcaption', null, who));
        if (video && typeof VideoDecoder !== 'undefined') {
          const canvas = el('canvas', { 'aria-label': who });
          figure.prepend(canvas);
          stops.push(playVideo(video, canvas, clock));
        } else if (video) {
          figure.append(el('p', { class: 'muted' }, t('call.recordings.no_decoder')));
        }
        if (audio) {
          const sound = el('audio', { controls: true, src: URL.createObjectURL(audio) });
          if (master) {
            // Every other microphone follows the first one's controls.
            const lead = master;
            lead.addEventListener('play', () => { sound.currentTime = lead.currentTime; sound.play(); });
            lead.addEventListener('pause', () => sound.pause());
            lead.addEventListener('seeked', () => { sound.currentTime = lead.currentTime; });
            sound.controls = false;
          } else {
            master = sound;
          }
          figure.append(sound);
        }
        player.append(figure);
      }
      if (master) {
        await master.play().catch(() => {});
      }
    } catch (err) {
      error.textContent = t('call.recordings.failed', { message: err.message });
      button.disabled = false;
    }
  };
  const button = el('button', { type: 'button', class: 'play-recording', onclick: play }, t('call.recordings.play'));
  const minutes = Math.max(0, ...recording.files.map((f) => f.duration_ms)) / 60000;
  return el('li', { dataset: { recording: recording.id } },
    el('span', null, t('call.recordings.item', {
      when: when(recording.started_at), minutes: minutes.toFixed(1),
      people: [...byParticipant.keys()].map((id) => names.get(id) || id).join(', '),
    })), ' ', button, error, player);
}

/**
 * The call record of a consultation into `box`: its chat and a button that
 * lists its recordings.
 * @param {HTMLElement} box
 * @param {any} consultation a ConsultationView
 * @param {import('../lib/ferry.js').Me} me
 */
async function mount(box, consultation, me) {
  const names = new Map([
    [consultation.requested_by, consultation.requested_by_name],
    [consultation.expert_id, consultation.expert_name],
  ]);
  const parts = [];
  const chat = await Chat.transcript(consultation.id, me.id);
  if (chat) parts.push(chat);
  if (me.roles.includes('clinician') || me.roles.includes('expert')) {
    const list = el('ul', { class: 'recording-list' });
    const show = el('button', { type: 'button', id: 'case-recordings-show', onclick: async () => {
      show.disabled = true;
      try {
        const recordings = await api('GET', `/consultations/${consultation.id}/recordings`);
        list.replaceChildren(...(recordings.length ? recordings.map((r) => recordingItem(r, names))
          : [el('li', { class: 'muted' }, t('call.recordings.none'))]));
      } catch (err) {
        list.replaceChildren(el('li', { class: 'error' }, err.message));
        show.disabled = false;
      }
    } }, t('call.recordings.show'));
    parts.push(el('section', { class: 'recordings', id: 'case-recordings' },
      el('h3', null, t('call.recordings.title')), show, list));
  }
  box.replaceChildren(...parts);
}

export { mount };
