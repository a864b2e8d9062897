// @ts-check
// Ferry web client: what the call screen says about the link, from this
// browser's own WebRTC statistics, so each side shows a verdict as soon as
// it has two samples (the server tells only of a change to or from poor,
// which left a good link "measuring…" for a whole call). The thresholds are
// the server's (signaling/src/link.rs): past any of them video is hard to
// follow; recovery needs a clear margin so a link on the edge does not flap.
//
// The outgoing bitrate says something about the link only while the user
// sends full video: in "low bandwidth" or "audio only" it is what they
// chose, and counting it made a good link "poor".

const POOR_RTT_MS = 400;
const POOR_LOSS = 0.05;
const POOR_KBPS = 150;
const MARGIN = 0.75;

/**
 * The link's quality from one interval's figures, given the last verdict.
 * @param {{rttMs: number | null, loss: number | null, kbps: number | null, mode: string}} figures
 *   loss is a fraction (0..1); mode is what the user sends: normal, low, off
 * @param {'good' | 'poor' | null} before
 * @returns {'good' | 'poor' | null} null: nothing measured yet
 */
function verdict(figures, before) {
  const { rttMs, loss, kbps, mode } = figures;
  const bitrate = mode === 'normal' ? kbps : null;
  if (rttMs === null && loss === null && bitrate === null) {
    return null;
  }
  const scale = before === 'poor' ? MARGIN : 1;
  const slow = rttMs !== null && rttMs > POOR_RTT_MS * scale;
  const lossy = loss !== null && loss > POOR_LOSS * scale;
  const thin = bitrate !== null && bitrate < POOR_KBPS / scale;
  return slow || lossy || thin ? 'poor' : 'good';
}

/**
 * The peer who speaks loudest, if anyone speaks at all.
 * @param {Map<string, number>} levels audio level (0..1) by peer id
 * @param {number} [floor] below this nobody is speaking
 * @returns {string | null}
 */
function loudest(levels, floor = 0.01) {
  let best = null;
  let level = floor;
  for (const [peer, value] of levels) {
    if (value > level) {
      best = peer;
      level = value;
    }
  }
  return best;
}

/**
 * Time left until an instant, as the countdown shows it: h:mm:ss, or m:ss
 * under an hour; 0:00 once it is past.
 * @param {number} ms
 */
function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

export { verdict, loudest, countdown };
