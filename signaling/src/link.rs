//! Weak links: clients report their WebRTC statistics (`stats`) and the room
//! tells everyone when a peer's link turns poor or recovers, so the clients
//! can fall back to audio first instead of freezing video. Island links are
//! slow, lossy and shared; the thresholds are those at which video calls
//! become hard to follow, and recovery needs a clear margin so that a link on
//! the edge does not flap.

use serde::{Deserialize, Serialize};

/// One report, from `RTCPeerConnection.getStats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkStats {
    /// Round-trip time of the selected candidate pair, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Fraction of packets lost, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// Outgoing bitrate, in kilobits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<f64>,
}

/// How the room judges a peer's link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Good enough for video: no threshold crossed (or, after a poor spell,
    /// all back within the margin).
    Good,
    /// Too slow, lossy or thin for video to be followed: the clients should
    /// fall back to audio first.
    Poor,
}

const POOR_RTT_MS: f64 = 400.0;
const POOR_LOSS: f64 = 0.05;
const POOR_BITRATE_KBPS: f64 = 150.0;
/// Recovery needs this much better than the threshold.
const MARGIN: f64 = 0.75;

impl LinkStats {
    /// Whether the numbers make sense (a client may send anything).
    pub fn is_valid(&self) -> bool {
        let ok =
            |v: Option<f64>, max: f64| v.is_none_or(|v| v.is_finite() && (0.0..=max).contains(&v));
        ok(self.rtt_ms, 600_000.0) && ok(self.loss, 1.0) && ok(self.bitrate_kbps, 10_000_000.0)
    }

    /// The link's quality, given what it was before (hysteresis).
    pub fn assess(&self, before: Quality) -> Quality {
        let scale = if before == Quality::Poor { MARGIN } else { 1.0 };
        let slow = self.rtt_ms.is_some_and(|v| v > POOR_RTT_MS * scale);
        let lossy = self.loss.is_some_and(|v| v > POOR_LOSS * scale);
        let thin = self
            .bitrate_kbps
            .is_some_and(|v| v < POOR_BITRATE_KBPS / scale);
        if slow || lossy || thin {
            Quality::Poor
        } else {
            Quality::Good
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(rtt: f64, loss: f64, kbps: f64) -> LinkStats {
        LinkStats {
            rtt_ms: Some(rtt),
            loss: Some(loss),
            bitrate_kbps: Some(kbps),
        }
    }

    #[test]
    fn a_link_turns_poor_past_any_threshold_and_recovers_only_with_a_margin() {
        assert_eq!(stats(80.0, 0.0, 900.0).assess(Quality::Good), Quality::Good);
        assert_eq!(
            stats(650.0, 0.0, 900.0).assess(Quality::Good),
            Quality::Poor
        );
        assert_eq!(
            stats(80.0, 0.12, 900.0).assess(Quality::Good),
            Quality::Poor
        );
        assert_eq!(stats(80.0, 0.0, 90.0).assess(Quality::Good), Quality::Poor);
        // Just under the threshold is good for a good link, still poor for a poor one.
        assert_eq!(
            stats(380.0, 0.0, 900.0).assess(Quality::Good),
            Quality::Good
        );
        assert_eq!(
            stats(380.0, 0.0, 900.0).assess(Quality::Poor),
            Quality::Poor
        );
        assert_eq!(
            stats(200.0, 0.01, 600.0).assess(Quality::Poor),
            Quality::Good
        );
        assert_eq!(LinkStats::default().assess(Quality::Poor), Quality::Good);
    }

    #[test]
    fn nonsense_numbers_are_refused() {
        assert!(stats(80.0, 0.0, 900.0).is_valid());
        assert!(!stats(-1.0, 0.0, 900.0).is_valid());
        assert!(!stats(80.0, 1.5, 900.0).is_valid());
        assert!(!stats(f64::NAN, 0.0, 900.0).is_valid());
    }
}
