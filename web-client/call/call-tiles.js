// @ts-check
// Ferry web client: the video tiles of a call, in a speaker view. Each other
// participant has a tile, captioned with their name; whoever speaks takes
// the large one, so a consultation of several follows the conversation
// without anyone picking a view, and the user sees themselves only in the
// small self-view.

import { loudest } from './call-quality.js';

const $ = (selector) => document.querySelector(selector);
// A new speaker takes the large tile after speaking loudest this many
// samples in a row, so a cough does not swap the view.
const SPEAKER_HOLD = 3;

/** @param {string} peerId @returns {HTMLElement | null} */
function tileOf(peerId) {
  return document.querySelector(`#videos .remote[data-peer="${CSS.escape(peerId)}"]`);
}

function tile(session, peerId) {
  let figure = tileOf(peerId);
  if (!figure) {
    figure = document.createElement('figure');
    figure.className = 'tile remote';
    figure.dataset.peer = peerId;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    figure.appendChild(video);
    figure.appendChild(document.createElement('figcaption'));
    $('#videos').appendChild(figure);
  }
  figure.querySelector('figcaption').textContent = session.names.get(peerId) || '';
  return figure;
}

// A participant's media arrived (their tile shows it) or went (so does the tile).
function showTrack(session, peerId, stream) {
  if (stream === null) {
    const gone = tileOf(peerId);
    if (gone) {
      gone.remove();
    }
  } else {
    const video = tile(session, peerId).querySelector('video');
    if (video.srcObject !== stream) {
      video.srcObject = stream;
    }
  }
  $('#call-waiting').hidden = document.querySelector('#videos .remote') !== null;
  showSpeaker(session, session.speaker);
}

// The large tile: the speaker if they still have a tile, else the first
// other participant; yourself only in the small self-view.
function showSpeaker(session, peerId) {
  const tiles = [.../** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('#videos .remote'))];
  const main = tiles.find((f) => f.dataset.peer === peerId) || tiles[0] || null;
  session.speaker = main ? main.dataset.peer : null;
  for (const figure of tiles) {
    figure.classList.toggle('main', figure === main);
  }
}

/**
 * Marks who speaks now, and gives the large tile to a new speaker once
 * they have held it long enough.
 * @param {any} session
 * @param {() => boolean} cancelled whether the session is no longer shown
 */
function pickSpeaker(session, cancelled) {
  if (cancelled() || !session.call) {
    return;
  }
  const levels = session.call.audioLevels();
  const loud = loudest(levels);
  for (const figure of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('#videos .remote'))) {
    figure.classList.toggle('speaking', figure.dataset.peer === loud);
  }
  if (!loud || loud === session.speaker) {
    session.candidate = { peer: null, count: 0 };
    return;
  }
  session.candidate = { peer: loud, count: session.candidate.peer === loud ? session.candidate.count + 1 : 1 };
  if (session.candidate.count >= SPEAKER_HOLD) {
    showSpeaker(session, loud);
  }
}

export { tileOf, tile, showTrack, pickSpeaker };
