// @ts-check
// Ferry web client: a study shared in a video call. Either participant picks
// one of the consultation's studies; everyone in the call then sees it in a
// viewer (viewer/viewer.js) beside the video, kept in step (series, image,
// window/level, zoom, pan) whoever moves it, until either stops sharing.
//
// The view travels over a data channel of each participant's peer
// connection (FerryCall's `onChannel`), not the signalling socket: a drag
// sends a state every animation frame, four times what the server lets a
// socket send, and the server has nothing to add to it. Each browser fetches
// the images with its own session, so who may see a study stays the server's
// decision.
//
// What is shared, and the view of it, are each a last-writer-wins register:
// a value, its stamp (a hybrid clock: past every stamp seen here, and no
// earlier than the wall clock, so a fresh choice beats one made before a
// participant arrived) and its author's peer id to break ties. Every channel
// that opens is sent both, so whoever joins or reconnects takes the newest,
// and two people who move the view at once end on the same one.
//
//   const share = create({ me, nameOf });
//   share.studies(uids | null);          // the consultation's studies; null:
//                                        // its record is closed to this user
//   share.channel(peerId, channel|null); // a peer's data channel, or its loss
//   share.destroy();

import { el, t, request } from '../lib/ferry.js';
import * as Viewer from '../viewer/viewer.js';

const $ = (selector) => document.querySelector(selector);

const NONE = { stamp: 0, from: '' };
// How far ahead of this machine's clock a peer's may run.
const FUTURE_MS = 24 * 3600 * 1000;
// The consultation's record is closed to this user (an invitee): what is
// shared is opened, and the server answers for its images.
const CLOSED = 'closed';
const newer = (a, b) => a.stamp > b.stamp || (a.stamp === b.stamp && a.from > b.from);
const keyOf = (register) => `${register.stamp}/${register.from}`;

// The share of the call on screen; the page's buttons act on it.
let active = null;

/**
 * The shared study of one call, kept in step over each peer's data channel.
 * @param {{me: string, nameOf: (peer: string) => string}} options `me` is this
 *   participant's peer id
 */
function create({ me, nameOf }) {
  const channels = new Map();
  const labels = new Map();
  // The consultation's attached studies (a Set), CLOSED, or null until known.
  let allowed = null;
  let clock = 0;
  let shared = { study: null, ...NONE };
  let view = { state: null, ...NONE };
  let viewer = null;
  let viewerStudy = null;
  let pending = null;
  let applying = false;
  let destroyed = false;

  function stamp() {
    clock = Math.max(clock + 1, Date.now());
    return clock;
  }

  function send(message, only) {
    const text = JSON.stringify(message);
    for (const channel of only ? [only] : channels.values()) {
      if (channel.readyState !== 'open') continue;
      try {
        channel.send(text);
      } catch (error) {
        // A full or closing channel: this peer gets the newest state
        // when its channel opens again.
        console.warn('share:', error);
      }
    }
  }

  const shareMessage = () => ({ type: 'share', study: shared.study, stamp: shared.stamp, from: shared.from });
  const viewMessage = () => ({ type: 'view', share: keyOf(shared), state: view.state, stamp: view.stamp, from: view.from });

  function greet(channel) {
    if (shared.stamp > 0) send(shareMessage(), channel);
    if (shared.study && view.state) send(viewMessage(), channel);
  }

  function channel(peerId, next) {
    channels.delete(peerId);
    if (!next || destroyed) return;
    channels.set(peerId, next);
    next.addEventListener('open', () => greet(next));
    next.addEventListener('message', (event) => {
      if (channels.get(peerId) === next) receive(event.data);
    });
    if (next.readyState === 'open') greet(next);
  }

  function receive(data) {
    if (destroyed || typeof data !== 'string') return;
    let m;
    try {
      m = JSON.parse(data);
    } catch (error) {
      return;
    }
    if (!m || typeof m.stamp !== 'number' || typeof m.from !== 'string') return;
    // A stamp far ahead of any clock would win every later change.
    if (!Number.isFinite(m.stamp) || m.stamp > Date.now() + FUTURE_MS) return;
    clock = Math.max(clock, m.stamp);
    if (m.type === 'share' && (m.study === null || typeof m.study === 'string')) {
      if (newer(m, shared)) adopt({ study: m.study, stamp: m.stamp, from: m.from });
    } else if (m.type === 'view' && m.share === keyOf(shared) && m.state && typeof m.state === 'object') {
      if (newer(m, view)) {
        view = { state: m.state, stamp: m.stamp, from: m.from };
        follow(m.state);
      }
    }
  }

  function adopt(next) {
    const before = shared;
    shared = next;
    view = { state: null, ...NONE };
    pending = null;
    if (before.study && !next.study && next.from !== me) {
      $('#call-notice').textContent = t('call.share.stopped', { name: nameOf(next.from) || t('call.share.someone') });
    }
    render();
  }

  function start(study) {
    if (!study || study === shared.study) return;
    adopt({ study, stamp: stamp(), from: me });
    send(shareMessage());
  }

  function stop() {
    if (!shared.study) return;
    adopt({ study: null, stamp: stamp(), from: me });
    send(shareMessage());
  }

  // Another participant's view, applied once the viewer has a study to
  // apply it to; only the newest waiting one is applied.
  function follow(state) {
    pending = state;
    if (applying) return;
    applying = true;
    (async () => {
      while (pending && viewer) {
        const target = viewer;
        await target.ready;
        if (target !== viewer || !pending) continue;
        const next = pending;
        pending = null;
        await target.setState(next);
      }
    })().catch((error) => console.warn('share:', error)).finally(() => {
      applying = false;
    });
  }

  function unmount() {
    if (viewer) viewer.destroy();
    viewer = null;
    viewerStudy = null;
    pending = null;
  }

  function mount(study) {
    const holder = $('#call-shared-viewer');
    const options = view.state ? { series: view.state.series, state: view.state } : {};
    const mounted = Viewer.mount(holder, study, options);
    viewer = mounted;
    viewerStudy = study;
    pending = null;
    mounted.on('change', (state) => {
      if (viewer !== mounted || shared.study !== study) return;
      view = { state, stamp: stamp(), from: me };
      send(viewMessage());
    });
  }

  function title() {
    if (!shared.study) return '';
    const study = labels.get(shared.study) || shared.study;
    return shared.from === me ? t('call.share.by_you', { study })
      : t('call.share.by', { name: nameOf(shared.from) || t('call.share.someone'), study });
  }

  function render() {
    if (destroyed) return;
    const study = shared.study;
    const panel = $('#call-shared');
    panel.hidden = !study;
    $('#call-stage').classList.toggle('sharing', Boolean(study));
    $('#call-shared-title').textContent = title();
    $('#call-share-stop').hidden = !study;
    const refused = $('#call-shared-refused');
    // A participant could name any study; only the consultation's own are
    // opened, so no one's browser is made to look at something unrelated.
    const listed = allowed instanceof Set;
    const attached = Boolean(study) && (allowed === CLOSED || (listed && allowed.has(study)));
    refused.textContent = study && listed && !attached ? t('call.share.not_attached') : '';
    if (viewer && viewerStudy !== (attached ? study : null)) unmount();
    if (attached && !viewer) mount(study);
    renderPicker();
  }

  function renderPicker() {
    const select = $('#call-share-study');
    const uids = allowed instanceof Set ? [...allowed] : [];
    $('#call-share-pick').hidden = uids.length === 0;
    const chosen = select.value;
    select.replaceChildren(...uids.map((uid) => el('option', { value: uid }, labels.get(uid) || uid)));
    if (uids.includes(chosen)) select.value = chosen;
    else if (shared.study && uids.includes(shared.study)) select.value = shared.study;
  }

  function studies(uids) {
    if (uids === null) {
      allowed = CLOSED;
      render();
      return;
    }
    allowed = new Set(uids.map(String));
    for (const uid of allowed) {
      request(`/dicomweb/studies?StudyInstanceUID=${encodeURIComponent(uid)}`, {
        headers: { Accept: 'application/dicom+json' },
      }).then((found) => {
        const label = describe(Array.isArray(found) ? found[0] : null);
        if (label && !destroyed) {
          labels.set(uid, label);
          render();
        }
      }).catch(() => {
        // Not visible to this user: the picker shows the UID, and the
        // viewer, if it is shared, the server's refusal.
      });
    }
    render();
  }

  function destroy() {
    destroyed = true;
    unmount();
    channels.clear();
    if (active === api) active = null;
    reset();
  }

  const api = { studies, channel, start, stop, destroy, relabel: render };
  active = api;
  return api;
}

// "CT · Head axial · 2024-03-01" from a QIDO-RS study.
function describe(study) {
  if (!study) return '';
  const field = (tag) => {
    const value = study[tag] && study[tag].Value ? study[tag].Value[0] : '';
    return value === undefined || value === null ? '' : String(value);
  };
  const date = field('00080020');
  return [field('00080061'), field('00081030'),
    /^\d{8}$/.test(date) ? `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6)}` : date]
    .filter(Boolean).join(' · ');
}

function reset() {
  $('#call-shared').hidden = true;
  $('#call-stage').classList.remove('sharing');
  $('#call-shared-title').textContent = '';
  $('#call-shared-refused').textContent = '';
  $('#call-shared-viewer').replaceChildren();
  $('#call-share-pick').hidden = true;
  $('#call-share-study').replaceChildren();
}

// A module runs once the page is parsed, so its elements are there.
{
  $('#call-share-start').addEventListener('click', () => {
    if (active) active.start($('#call-share-study').value);
  });
  $('#call-share-stop').addEventListener('click', () => {
    if (active) active.stop();
  });
  document.addEventListener('ferry:language', () => {
    if (active) active.relabel();
  });
}

export { create };
