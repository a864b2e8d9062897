// @ts-check
// Ferry web client: a call's connections over a weak link. The server
// judges each side's link from the figures its browser reports (`stats`,
// signaling/PROTOCOL.md "Weak links") and tells the room when one turns
// poor; that side then sends less video, so the audio stays whole. Both
// halves read or set what the participants' connections carry, never the
// recorder's: the recorder's link is the server's own business, and it
// records what the camera gives.

/**
 * @typedef {{at: number, rttSeconds: number | null, packetsLost: number, packetsReceived: number, bytesSent: number}} LinkSample
 */

/**
 * The figures of one connection now, as counted since it opened.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<LinkSample>}
 */
async function sampleOf(pc) {
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach((report) => {
    if (report.type === 'transport' && report.selectedCandidatePairId) {
      pairId = report.selectedCandidatePairId;
    }
  });
  /** @type {LinkSample} */
  const sample = {
    at: performance.now(),
    rttSeconds: null,
    packetsLost: 0,
    packetsReceived: 0,
    bytesSent: 0,
  };
  stats.forEach((report) => {
    if (report.type === 'candidate-pair' && typeof report.currentRoundTripTime === 'number') {
      const selected = pairId ? report.id === pairId : report.nominated && report.state === 'succeeded';
      if (selected) {
        sample.rttSeconds = report.currentRoundTripTime;
      }
    } else if (report.type === 'inbound-rtp') {
      sample.packetsLost += report.packetsLost || 0;
      sample.packetsReceived += report.packetsReceived || 0;
    } else if (report.type === 'outbound-rtp') {
      sample.bytesSent += report.bytesSent || 0;
    }
  });
  return sample;
}

/**
 * The link as the participants' connections see it: the worst round trip,
 * and loss and outgoing bitrate since the last report. Each connection's
 * sample is kept in `lastSample` for the next one.
 * @param {Iterable<{pc: RTCPeerConnection}>} peers each participant's entry
 * @param {WeakMap<RTCPeerConnection, LinkSample>} lastSample
 * @param {string} videoMode what the local video sends: normal, low, off
 * @returns {Promise<object | null>} the `stats` message; null: nothing to tell
 */
async function linkReport(peers, lastSample, videoMode) {
  let rtt = null;
  let lost = 0;
  let received = 0;
  let bits = 0;
  let seconds = 0;
  let measured = false;
  for (const { pc } of peers) {
    if (pc.connectionState !== 'connected') {
      continue;
    }
    const sample = await sampleOf(pc);
    if (sample.rttSeconds !== null) {
      rtt = Math.max(rtt === null ? 0 : rtt, sample.rttSeconds * 1000);
    }
    const last = lastSample.get(pc);
    lastSample.set(pc, sample);
    if (!last) {
      continue;
    }
    measured = true;
    lost += Math.max(0, sample.packetsLost - last.packetsLost);
    received += Math.max(0, sample.packetsReceived - last.packetsReceived);
    bits += Math.max(0, sample.bytesSent - last.bytesSent) * 8;
    seconds = Math.max(seconds, (sample.at - last.at) / 1000);
  }
  /** @type {{type: 'stats', rtt_ms?: number, loss?: number, bitrate_kbps?: number}} */
  const report = { type: 'stats' };
  if (rtt !== null) {
    report.rtt_ms = rtt;
  }
  if (measured && lost + received > 0) {
    report.loss = lost / (lost + received);
  }
  // In "low" or "off" the bitrate is the user's choice, not the link's:
  // reported, it made the server call a good link poor.
  if (measured && seconds > 0 && videoMode === 'normal') {
    report.bitrate_kbps = bits / seconds / 1000;
  }
  return Object.keys(report).length > 1 ? report : null;
}

/**
 * Sends less video on a weak link: 'low' is a quarter of the size at
 * 150 kbit/s, 'off' sends audio only, 'normal' what the camera gives.
 * @param {RTCPeerConnection} pc
 * @param {string} videoMode
 */
async function applyVideoMode(pc, videoMode) {
  for (const sender of pc.getSenders()) {
    if (!sender.track || sender.track.kind !== 'video') {
      continue;
    }
    const parameters = sender.getParameters();
    if (!parameters.encodings || parameters.encodings.length === 0) {
      continue; // not negotiated yet; applied again once connected
    }
    for (const encoding of parameters.encodings) {
      encoding.active = videoMode !== 'off';
      if (videoMode === 'low') {
        encoding.maxBitrate = 150000;
        encoding.scaleResolutionDownBy = 4;
      } else {
        delete encoding.maxBitrate;
        encoding.scaleResolutionDownBy = 1;
      }
    }
    try {
      await sender.setParameters(parameters);
    } catch (error) {
      console.warn('FerryCall: video mode not applied', error);
    }
  }
}

export { linkReport, applyVideoMode };
