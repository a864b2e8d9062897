//! Real WebRTC peers (webrtc-rs) that find each other only through Ferry's
//! signalling socket: the offer, the answer and every ICE candidate cross the
//! server as JSON, then a data channel message makes the round trip between
//! the clinician and the expert, and again after the expert is lost and
//! comes back.

use crate::support::calls::accepted;
use crate::support::peers::{round_trip, Side};
use crate::support::scheduling::desk;
use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_webrtc_peers_meet_through_ferry_and_round_trip_a_data_channel_message() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let (mut clinician, _) = Side::join(&app, &d.clinician, id).await;
    let (expert, joined) = Side::join(&app, &d.expert, id).await;
    assert_eq!(joined["peers"][0]["id"], d.clinician.id.to_string());
    let arrived = clinician.notice().await;
    assert_eq!(arrived["type"], "peer-joined", "{arrived}");

    let (channel, offer) = clinician.call().await;
    let echoed = round_trip(&*channel, "ping from the island").await;

    assert_eq!(echoed, "ping from the island");
    // The offer carried no candidates, so the peers found each other through
    // the ones Ferry relayed, in both directions.
    assert!(!offer.sdp.contains("a=candidate"), "{}", offer.sdp);
    assert!(clinician.trickled() > 0, "the expert's candidates arrived");
    assert!(expert.trickled() > 0, "the clinician's candidates arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_drops_its_socket_rejoins_and_the_data_channel_works_again() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let (mut clinician, _) = Side::join(&app, &d.clinician, id).await;
    let (expert, _) = Side::join(&app, &d.expert, id).await;
    assert_eq!(clinician.notice().await["type"], "peer-joined");
    let (channel, _) = clinician.call().await;
    assert_eq!(
        round_trip(&*channel, "ping from the island").await,
        "ping from the island"
    );

    // Lost the way a phone loses its Wi-Fi: the peer connection is gone and
    // the socket falls silent without a close, so Ferry still counts it
    // connected when the expert comes back. (A socket dropped in-process
    // closes its TCP connection at once, and Ferry would announce `peer-left`
    // before the new one joined.)
    let lost = expert.stop().await;
    let (expert, joined) = Side::join(&app, &d.expert, id).await;
    drop(lost);
    assert_eq!(joined["peers"][0]["id"], d.clinician.id.to_string());
    let back = clinician.notice().await;
    assert_eq!(back["type"], "peer-joined", "{back}");
    assert_eq!(back["reconnect"], true);
    assert_eq!(back["peer"]["id"], d.expert.id.to_string());

    // The expert's new peer connection shares no DTLS or SCTP state with the
    // old one, which an ICE restart would keep, so the clinician starts over
    // with a fresh peer connection on the same socket.
    let clinician = Side::start(clinician.stop().await).await;
    let (channel, _) = clinician.call().await;
    let echoed = round_trip(&*channel, "ping after the drop").await;

    assert_eq!(echoed, "ping after the drop");
    assert!(expert.trickled() > 0, "the new expert heard candidates");
}
