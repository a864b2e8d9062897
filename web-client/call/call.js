// @ts-check
// Ferry web client: the video call of a consultation. Speaks the signalling
// protocol v1 (signaling/PROTOCOL.md) over one WebSocket, holds one
// RTCPeerConnection per other participant (media, and a data channel for the
// shared view of a study), and, while the call is recorded, a send-only one
// to the server's recorder.
//
//   const call = new FerryCall({ consultationId, localStream, onEvent, onTrack, onChannel });
//   await call.join();
//   call.consent(true);
//   call.leave();

import { applyVideoMode, linkReport } from './call-link.js';

const STATS_EVERY_MS = 3000;
// The recorder's peer id when the server does not name it.
const RECORDER = 'recorder';

class FerryCall {
  /**
   * @param {object} options
   * @param {number} options.consultationId
   * @param {MediaStream | null} [options.localStream] none: receive only
   * @param {(message: any) => void} [options.onEvent] every signalling message
   * @param {(peer: string, stream: MediaStream | null) => void} [options.onTrack]
   * @param {(peer: string, channel: RTCDataChannel | null) => void} [options.onChannel]
   * @param {(close: {code: number, reason: string}) => void} [options.onClose]
   * @param {(error: Error) => void} [options.onError]
   */
  constructor({ consultationId, localStream, onEvent, onTrack, onChannel, onClose, onError }) {
    if (consultationId === undefined || consultationId === null) {
      throw new TypeError('FerryCall needs a consultationId');
    }
    this.consultationId = consultationId;
    this.localStream = localStream || null;
    this.onEvent = onEvent || (() => {});
    // (peer id, MediaStream | null): a participant's media arrived, or went.
    this.onTrack = onTrack || (() => {});
    // What the local video sends: 'normal', 'low' (small, slow) or 'off'.
    this.videoMode = 'normal';
    // (peer id, RTCDataChannel | null): the channel for the shared view of
    // a study (call-share.js) on a participant's connection, or its end.
    this.onChannel = onChannel || (() => {});
    this.onClose = onClose || (() => {});
    this.onError = onError || ((error) => console.error('FerryCall:', error));
    this.socket = null;
    this.iceServers = [];
    this.me = null;
    // peer id -> { pc, pending: [RTCIceCandidateInit] }
    this.peers = new Map();
    // Candidates from a peer that has no connection here yet: the offer
    // they belong to may still be on its way, or queued behind other work.
    this.orphans = new Map();
    this.recorder = null;
    this.statsTimer = null;
    this.lastSample = new WeakMap();
    // Messages are handled one after another: each step of a negotiation
    // awaits the browser, and the next message must see its result.
    this.work = Promise.resolve();
    this.closed = false;
  }

  async join() {
    const response = await fetch('/api/v1/ice-servers', { credentials: 'same-origin' });
    if (!response.ok) {
      throw new Error(`ICE servers: HTTP ${response.status}`);
    }
    const body = await response.json();
    this.iceServers = Array.isArray(body.ice_servers) ? body.ice_servers : [];

    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${scheme}//${location.host}/signal/${encodeURIComponent(this.consultationId)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    return new Promise((resolve, reject) => {
      let joined = false;
      socket.addEventListener('open', () => this.send({ type: 'join', v: 1 }));
      socket.addEventListener('message', (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (error) {
          this.onError(new Error(`not JSON from the server: ${error.message}`));
          return;
        }
        if (!joined && message.type === 'joined') {
          joined = true;
          resolve(message);
        }
        this.receive(message);
      });
      socket.addEventListener('close', (event) => {
        this.shutDown();
        this.onClose({ code: event.code, reason: event.reason });
        if (!joined) {
          // The browser hides why an upgrade was refused; the API's own
          // answer (401, 403, 409 …) is visible by fetching the URL.
          reject(new Error(`the signalling socket closed before joining (code ${event.code})`));
        }
      });
    });
  }

  // Consent to recording this call, or withdraw it.
  consent(recording) {
    if (typeof recording !== 'boolean') {
      throw new TypeError('consent takes true or false');
    }
    this.send({ type: 'consent', recording });
  }

  leave() {
    this.send({ type: 'leave' });
    this.shutDown();
    if (this.socket) {
      this.socket.close(1000, 'left');
    }
  }

  // The peer connection to `peerId` (the recorder's id included), for its stats.
  peerConnection(peerId) {
    const id = String(peerId);
    if (this.recorder && this.recorder.id === id) {
      return this.recorder.pc;
    }
    const entry = this.peers.get(id);
    return entry ? entry.pc : null;
  }

  // Every open peer connection as [peer id, RTCPeerConnection].
  connections() {
    const all = [...this.peers].map(([id, entry]) => [id, entry.pc]);
    if (this.recorder) {
      all.push([this.recorder.id, this.recorder.pc]);
    }
    return all;
  }

  // Puts `track` (a camera or microphone chosen during the call) on every
  // connection's sender of its kind, the recorder's too: no renegotiation.
  async replaceTrack(track) {
    for (const [, pc] of this.connections()) {
      for (const sender of pc.getSenders()) {
        if (sender.track && sender.track.kind === track.kind) {
          await sender.replaceTrack(track);
        }
      }
    }
  }

  // How loud each participant is now (0..1), from the audio their
  // connection receives: the call screen puts the loudest large.
  audioLevels() {
    const levels = new Map();
    for (const [id, entry] of this.peers) {
      let level = 0;
      for (const receiver of entry.pc.getReceivers()) {
        if (receiver.track && receiver.track.kind === 'audio') {
          for (const source of receiver.getSynchronizationSources()) {
            level = Math.max(level, source.audioLevel || 0);
          }
        }
      }
      levels.set(id, level);
    }
    return levels;
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  receive(message) {
    try {
      this.onEvent(message);
    } catch (error) {
      // A broken screen must not break the call.
      this.onError(error);
    }
    this.work = this.work
      .then(() => this.handle(message))
      .catch((error) => this.onError(error));
  }

  async handle(message) {
    if (this.closed) {
      return;
    }
    switch (message.type) {
      case 'joined':
        this.me = message.you ? message.you.id : null;
        this.startStats();
        if (message.recording === true) {
          await this.startRecorder(message.recorder || RECORDER);
        } else if (typeof message.recording === 'string' && message.recording) {
          await this.startRecorder(message.recording);
        }
        break;
      case 'peer-joined':
        if (message.peer && !this.isRecorder(message.peer.id)) {
          // A reconnecting peer may have kept nothing of the old
          // connection (a reload, another device), so both cases start
          // afresh: a new connection always works where a restart might not.
          await this.offer(String(message.peer.id));
        }
        break;
      case 'peer-left':
        if (message.peer) {
          this.dropPeer(String(message.peer.id));
        }
        break;
      case 'offer':
        await this.answer(String(message.from), message.sdp);
        break;
      case 'answer':
        await this.applyAnswer(String(message.from), message.sdp);
        break;
      case 'ice-candidate':
        await this.applyCandidate(String(message.from), message.candidate);
        break;
      case 'recording':
        if (message.state === 'started') {
          await this.startRecorder(message.peer || RECORDER);
        } else if (message.state === 'stopped') {
          this.stopRecorder();
        }
        break;
      default:
        // consent, link-quality, chat, pong, error: news for the screen only.
        break;
    }
  }

  isRecorder(id) {
    return this.recorder !== null && this.recorder.id === String(id);
  }

  newConnection(peerId) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected' && this.videoMode !== 'normal') {
        applyVideoMode(pc, this.videoMode).catch((error) => this.onError(error));
      }
    });
    pc.addEventListener('track', (event) => {
      if (this.peerConnection(peerId) === pc) {
        this.onTrack(peerId, event.streams[0] || new MediaStream([event.track]));
      }
    });
    pc.addEventListener('icecandidate', (event) => {
      // Only this connection's candidates: a replaced one may still be gathering.
      if (this.peerConnection(peerId) !== pc) {
        return;
      }
      this.send({
        type: 'ice-candidate',
        to: peerId,
        candidate: event.candidate ? event.candidate.toJSON() : null,
      });
    });
    // Negotiated: both ends open it with the same id before the offer or
    // answer, so neither waits on the other to announce it, and the
    // recorder's connection, built apart from this one, never has it.
    this.onChannel(peerId, pc.createDataChannel('ferry-view', { negotiated: true, id: 0 }));
    return pc;
  }

  addLocalTracks(pc) {
    if (!this.localStream) {
      return;
    }
    for (const track of this.localStream.getTracks()) {
      pc.addTrack(track, this.localStream);
    }
  }

  // Sends less video on a weak link (call-link.js): 'low' or 'off'. Applies
  // to every participant's connection (not the recorder's, which records
  // what the camera gives).
  async setVideoMode(mode) {
    this.videoMode = mode;
    for (const { pc } of this.peers.values()) {
      await applyVideoMode(pc, this.videoMode);
    }
  }

  async offer(peerId) {
    this.dropPeer(peerId);
    // Whatever the peer trickled before this offer belongs to an earlier
    // connection: its candidates for this one can only follow the offer.
    this.orphans.delete(peerId);
    const pc = this.newConnection(peerId);
    const entry = { pc, pending: [] };
    this.peers.set(peerId, entry);
    this.addLocalTracks(pc);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.send({ type: 'offer', to: peerId, sdp: pc.localDescription.sdp });
  }

  async answer(peerId, sdp) {
    if (this.isRecorder(peerId)) {
      return; // the recorder answers; it never offers
    }
    this.dropPeer(peerId);
    const pc = this.newConnection(peerId);
    const entry = { pc, pending: this.orphans.get(peerId) || [] };
    this.orphans.delete(peerId);
    this.peers.set(peerId, entry);
    await pc.setRemoteDescription({ type: 'offer', sdp });
    // addTrack reuses the transceivers the offer created, so the answer
    // sends on the same m-lines the offerer receives on.
    this.addLocalTracks(pc);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.send({ type: 'answer', to: peerId, sdp: pc.localDescription.sdp });
    await this.flush(entry);
  }

  async applyAnswer(peerId, sdp) {
    const entry = this.isRecorder(peerId) ? this.recorder : this.peers.get(peerId);
    // An answer to a connection replaced in the meantime has nothing to apply to.
    if (!entry || entry.pc.signalingState !== 'have-local-offer') {
      return;
    }
    await entry.pc.setRemoteDescription({ type: 'answer', sdp });
    await this.flush(entry);
  }

  async applyCandidate(peerId, candidate) {
    const entry = this.isRecorder(peerId) ? this.recorder : this.peers.get(peerId);
    if (!entry) {
      const early = this.orphans.get(peerId) || [];
      early.push(candidate);
      this.orphans.set(peerId, early);
      return;
    }
    if (entry.pc.remoteDescription) {
      await this.addCandidate(entry.pc, candidate);
    } else {
      entry.pending.push(candidate);
    }
  }

  async flush(entry) {
    const pending = entry.pending;
    entry.pending = [];
    for (const candidate of pending) {
      await this.addCandidate(entry.pc, candidate);
    }
  }

  async addCandidate(pc, candidate) {
    try {
      // `null` is the end of candidates, which addIceCandidate() with no
      // argument says.
      await (candidate ? pc.addIceCandidate(candidate) : pc.addIceCandidate());
    } catch (error) {
      // A candidate of an earlier ICE generation, or one the browser
      // cannot use: the others may still connect.
      console.warn('FerryCall: candidate refused', error);
    }
  }

  dropPeer(peerId) {
    const entry = this.peers.get(peerId);
    if (entry) {
      entry.pc.close();
      this.peers.delete(peerId);
      this.onTrack(peerId, null);
      this.onChannel(peerId, null);
    }
  }

  async startRecorder(recorderId) {
    this.stopRecorder();
    const id = String(recorderId);
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const entry = { id, pc, pending: [] };
    this.recorder = entry;
    pc.addEventListener('icecandidate', (event) => {
      if (this.recorder !== entry) {
        return;
      }
      this.send({
        type: 'ice-candidate',
        to: id,
        candidate: event.candidate ? event.candidate.toJSON() : null,
      });
    });
    if (this.localStream) {
      for (const kind of ['audio', 'video']) {
        for (const track of this.localStream.getTracks().filter((t) => t.kind === kind)) {
          pc.addTransceiver(track, { direction: 'sendonly', streams: [this.localStream] });
        }
      }
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.send({ type: 'offer', to: id, sdp: pc.localDescription.sdp });
  }

  stopRecorder() {
    if (this.recorder) {
      this.recorder.pc.close();
      this.recorder = null;
    }
  }

  startStats() {
    if (this.statsTimer === null) {
      this.statsTimer = setInterval(() => {
        this.reportStats().catch((error) => this.onError(error));
      }, STATS_EVERY_MS);
    }
  }

  // The link as the participants' connections see it (the recorder's is
  // the server's own business), for the server to judge (call-link.js).
  async reportStats() {
    const report = await linkReport(this.peers.values(), this.lastSample, this.videoMode);
    if (report) {
      this.send(report);
    }
  }

  shutDown() {
    this.closed = true;
    if (this.statsTimer !== null) {
      clearInterval(this.statsTimer);
      this.statsTimer = null;
    }
    for (const id of [...this.peers.keys()]) {
      this.dropPeer(id);
    }
    this.stopRecorder();
  }
}

export { FerryCall };
