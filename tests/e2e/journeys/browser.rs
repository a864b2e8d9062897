//! A real browser in the call: headless Chromium (Debian's, with a fake
//! camera and microphone) runs the web client's `call.js`, driven by
//! `tests/browser/participants.cjs` through playwright-core, and meets a
//! webrtc-rs peer through Ferry's signalling.

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::json;
use tokio::time::timeout;
use webrtc::media_stream::track_remote::TrackRemoteEvent;

use crate::support::browser::{Browser, BROWSER_PATIENCE};
use crate::support::calls::accepted;
use crate::support::peers::{Media, Side};
use crate::support::scheduling::desk;
use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webrtc_rs_peer_receives_vp8_video_from_headless_chromium_through_ferry() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let mut browser = Browser::launch(&app).await;

    browser.open("clinician", &d.clinician, id).await;
    let joined = browser
        .wait_for("clinician", |m| m["type"] == "joined")
        .await;
    assert_eq!(joined["peers"], json!([]), "{joined}");
    let (mut expert, joined) = Side::join_with(&app, &d.expert, id, Media::Vp8Opus).await;
    assert_eq!(joined["peers"][0]["id"], d.clinician.id.to_string());
    let expert_id = d.expert.id.to_string();
    let arrived = browser
        .wait_for("clinician", |m| m["type"] == "peer-joined")
        .await;
    assert_eq!(arrived["peer"]["id"], expert_id.as_str(), "{arrived}");

    // The browser was in the room first, so it offers; the relay answers.
    let video = expert.track(RtpCodecKind::Video).await;
    let mut timestamps = Vec::new();
    let mut codec = None;
    let received = timeout(BROWSER_PATIENCE, async {
        while let Some(event) = video.poll().await {
            if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                if codec.is_none() {
                    codec = video.codec(packet.header.ssrc).await;
                }
                timestamps.push(packet.header.timestamp);
                // A key frame alone can take more than 30 packets: wait
                // until the packets span more than one frame.
                if timestamps.len() >= 30 && timestamps.first() != timestamps.last() {
                    return;
                }
            }
        }
    })
    .await;
    assert!(
        received.is_ok(),
        "30 video packets of more than one frame in time; got {}: {:?}",
        timestamps.len(),
        browser.stats("clinician").await
    );
    let codec = codec.expect("the track knows its codec");
    assert!(
        codec.mime_type.eq_ignore_ascii_case("video/VP8"),
        "{codec:?}"
    );
    // Frames of a live camera: the RTP clock only moves forward (modulo
    // wrap-around).
    for pair in timestamps.windows(2) {
        assert!(
            pair[1].wrapping_sub(pair[0]) < 1 << 31,
            "timestamps go back: {timestamps:?}"
        );
    }

    let stats = browser.stats("clinician").await;
    let to_expert = &stats[expert_id.as_str()];
    assert_eq!(to_expert["connection"], "connected", "{stats}");
    assert!(
        to_expert["outbound_video"]["packets_sent"]
            .as_u64()
            .is_some_and(|sent| sent >= 30),
        "{stats}"
    );
    assert!(
        to_expert["outbound_video"]["codec"]
            .as_str()
            .is_some_and(|codec| codec.eq_ignore_ascii_case("video/VP8")),
        "{stats}"
    );

    // The clinician hangs up; Ferry tells the expert, and the call ends.
    browser.leave("clinician").await;
    let left = loop {
        let notice = expert.notice().await;
        if notice["type"] == "peer-left" {
            break notice;
        }
    };
    assert_eq!(left["peer"]["id"], d.clinician.id.to_string(), "{left}");
    assert_eq!(left["reason"], "left", "{left}");
    browser.close("clinician").await;
    let _ = expert.stop().await;
    browser.quit().await;
}
