use super::*;
use crate::protocol::RecordingState;

fn peer(id: &str) -> PeerInfo {
    PeerInfo {
        id: id.into(),
        name: format!("user {id}"),
    }
}

#[test]
fn a_reconnect_replaces_the_old_connection_and_the_other_side_is_told() {
    let rooms = Rooms::new();
    let (a_tx, mut a_rx) = mpsc::channel(QUEUE);
    let (b_tx, mut b_rx) = mpsc::channel(QUEUE);
    let (b2_tx, _b2_rx) = mpsc::channel(QUEUE);
    let a = rooms.join("c1", peer("a"), a_tx);
    let b = rooms.join("c1", peer("b"), b_tx);
    assert!(a.peers.is_empty());
    assert_eq!(b.peers, vec![peer("a")]);
    assert!(matches!(
        a_rx.try_recv(),
        Ok(Outbound::Send(ServerMessage::PeerJoined {
            reconnect: false,
            ..
        }))
    ));

    let again = rooms.join("c1", peer("b"), b2_tx);
    assert!(again.replaced);
    assert_eq!(b_rx.try_recv(), Ok(Outbound::Close("replaced")));
    assert!(matches!(
        a_rx.try_recv(),
        Ok(Outbound::Send(ServerMessage::PeerJoined {
            reconnect: true,
            ..
        }))
    ));
    // The replaced connection's leave changes nothing.
    assert_eq!(rooms.leave("c1", "b", b.conn, "gone"), None);
    assert_eq!(rooms.present("c1"), vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(
        rooms.leave("c1", "b", again.conn, "left"),
        Some(vec!["a".to_owned()])
    );
    assert_eq!(rooms.leave("c1", "a", a.conn, "left"), Some(vec![]));
    assert_eq!(rooms.connections(), 0);
}

#[test]
fn relays_to_one_peer_or_all_others_and_refuses_unknown_peers() {
    let rooms = Rooms::new();
    let (a_tx, _a_rx) = mpsc::channel(QUEUE);
    let (b_tx, mut b_rx) = mpsc::channel(QUEUE);
    rooms.join("c1", peer("a"), a_tx);
    rooms.join("c1", peer("b"), b_tx);
    let offer = ServerMessage::Offer {
        from: "a".into(),
        sdp: "v=0".into(),
    };
    assert_eq!(rooms.relay("c1", "a", Some("b"), offer.clone()), Ok(1));
    assert_eq!(b_rx.try_recv(), Ok(Outbound::Send(offer.clone())));
    assert_eq!(rooms.relay("c1", "a", None, offer.clone()), Ok(1));
    assert_eq!(
        rooms.relay("c1", "a", Some("z"), offer.clone()),
        Err(RelayError::UnknownPeer("z".into()))
    );
    assert_eq!(
        rooms.relay("c1", "a", Some("a"), offer),
        Err(RelayError::UnknownPeer("a".into())),
        "not to oneself"
    );
}

#[test]
fn a_peer_that_stops_reading_is_dropped_not_waited_for() {
    let rooms = Rooms::new();
    let (a_tx, _a_rx) = mpsc::channel(QUEUE);
    let (b_tx, _b_rx) = mpsc::channel(1);
    rooms.join("c1", peer("b"), b_tx);
    rooms.join("c1", peer("a"), a_tx); // fills b's queue with peer-joined
    let offer = ServerMessage::Offer {
        from: "a".into(),
        sdp: "v=0".into(),
    };
    assert_eq!(
        rooms.relay("c1", "a", Some("b"), offer),
        Err(RelayError::PeerTooSlow("b".into()))
    );
    assert_eq!(rooms.present("c1"), vec!["a".to_owned()]);
}

/// Delivers every event one node queued to the other.
fn pump(events: &mut mpsc::UnboundedReceiver<BusEvent>, to: &Rooms) -> usize {
    let mut n = 0;
    while let Ok(event) = events.try_recv() {
        to.receive(event);
        n += 1;
    }
    n
}

fn kind(rx: &mut mpsc::Receiver<Outbound>) -> Option<ServerMessage> {
    match rx.try_recv() {
        Ok(Outbound::Send(message)) => Some(message),
        _ => None,
    }
}

#[test]
fn a_room_spans_two_nodes_and_a_reconnect_moves_a_participant_between_them() {
    let (a_bus, mut a_events) = mpsc::unbounded_channel();
    let (b_bus, mut b_events) = mpsc::unbounded_channel();
    let a = Rooms::with_bus("a".into(), a_bus);
    let b = Rooms::with_bus("b".into(), b_bus);
    let (x_tx, mut x_rx) = mpsc::channel(QUEUE);
    let (y_tx, mut y_rx) = mpsc::channel(QUEUE);
    a.join("c1", peer("x"), x_tx);
    pump(&mut a_events, &b);
    let y = b.join("c1", peer("y"), y_tx);
    assert_eq!(y.peers, vec![peer("x")], "x, on the other node, is listed");
    pump(&mut b_events, &a); // y joined
    assert!(matches!(
        kind(&mut x_rx),
        Some(ServerMessage::PeerJoined {
            reconnect: false,
            ..
        })
    ));
    pump(&mut a_events, &b); // a's present answer: nothing new for b
    assert_eq!(kind(&mut y_rx), None);
    assert_eq!(a.present("c1"), vec!["x".to_owned(), "y".to_owned()]);

    let offer = ServerMessage::Offer {
        from: "y".into(),
        sdp: "v=0".into(),
    };
    assert_eq!(b.relay("c1", "y", Some("x"), offer.clone()), Ok(1));
    pump(&mut b_events, &a);
    assert_eq!(kind(&mut x_rx), Some(offer));

    // x comes back on node b: a closes its old connection, y hears of a reconnect.
    let (x2_tx, _x2_rx) = mpsc::channel(QUEUE);
    let again = b.join("c1", peer("x"), x2_tx);
    assert!(again.replaced);
    assert!(matches!(
        kind(&mut y_rx),
        Some(ServerMessage::PeerJoined {
            reconnect: true,
            ..
        })
    ));
    pump(&mut b_events, &a);
    assert_eq!(x_rx.try_recv(), Ok(Outbound::Close("replaced")));
    assert_eq!(b.present("c1"), vec!["y".to_owned(), "x".to_owned()]);

    // y leaves: a forgets it too.
    b.leave("c1", "y", y.conn, "left");
    pump(&mut b_events, &a);
    assert_eq!(a.present("c1"), vec!["x".to_owned()]);
}

fn recorder() -> PeerInfo {
    PeerInfo {
        id: "recorder".into(),
        name: "Recorder".into(),
    }
}

#[test]
fn recording_is_wanted_only_while_every_participant_consents() {
    let rooms = Rooms::new();
    let (a_tx, mut a_rx) = mpsc::channel(QUEUE);
    let (b_tx, mut b_rx) = mpsc::channel(QUEUE);
    let a = rooms.join("c1", peer("a"), a_tx);
    assert_eq!(rooms.consent("c1", "a", true), Some(false), "alone");
    assert_eq!(rooms.consent("c1", "z", true), None, "not here");
    let b = rooms.join("c1", peer("b"), b_tx);
    assert_eq!(b.consents, vec!["a".to_owned()]);
    assert!(!rooms.recording_wanted("c1"));
    assert_eq!(rooms.consent("c1", "b", true), Some(true));
    let mut heard = Vec::new();
    while let Some(message) = kind(&mut a_rx) {
        if let ServerMessage::Consent { peer, recording } = message {
            heard.push((peer, recording));
        }
    }
    assert_eq!(heard, vec![("a".into(), true), ("b".into(), true)]);
    assert!(
        matches!(
            kind(&mut b_rx),
            Some(ServerMessage::Consent {
                recording: true,
                ..
            })
        ),
        "the one who consents hears it too"
    );

    assert_eq!(rooms.consent("c1", "a", false), Some(false), "withdrawn");
    assert_eq!(rooms.consent("c1", "a", true), Some(true));
    // A participant who leaves takes the consent along.
    rooms.leave("c1", "b", b.conn, "left");
    let (b2_tx, _b2_rx) = mpsc::channel(QUEUE);
    let again = rooms.join("c1", peer("b"), b2_tx);
    assert_eq!(again.consents, vec!["a".to_owned()]);
    assert!(!rooms.recording_wanted("c1"));
    rooms.leave("c1", "a", a.conn, "left");
}

#[test]
fn the_recorder_is_no_participant_and_is_spared_the_negotiation() {
    let rooms = Rooms::new();
    let (a_tx, mut a_rx) = mpsc::channel(QUEUE);
    let (b_tx, mut b_rx) = mpsc::channel(QUEUE);
    let (r_tx, mut r_rx) = mpsc::channel(QUEUE);
    rooms.join("c1", peer("a"), a_tx);
    rooms.join("c1", peer("b"), b_tx);
    while kind(&mut a_rx).is_some() {}
    while kind(&mut b_rx).is_some() {}
    let conn = rooms
        .attach_recorder("c1", recorder(), r_tx)
        .expect("the first recorder");
    let (r2_tx, _r2_rx) = mpsc::channel(QUEUE);
    assert_eq!(rooms.attach_recorder("c1", recorder(), r2_tx), None);
    assert_eq!(
        rooms.attach_recorder("gone", recorder(), mpsc::channel(1).0),
        None
    );
    for rx in [&mut a_rx, &mut b_rx] {
        assert_eq!(
            kind(rx),
            Some(ServerMessage::Recording {
                state: RecordingState::Started,
                peer: "recorder".into(),
                reason: None
            })
        );
    }
    assert_eq!(rooms.present("c1"), vec!["a".to_owned(), "b".to_owned()]);

    let offer = ServerMessage::Offer {
        from: "a".into(),
        sdp: "v=0".into(),
    };
    assert_eq!(rooms.relay("c1", "a", None, offer.clone()), Ok(1), "b only");
    assert_eq!(kind(&mut r_rx), None);
    assert_eq!(
        rooms.relay("c1", "a", Some("recorder"), offer.clone()),
        Ok(1)
    );
    assert_eq!(kind(&mut r_rx), Some(offer));
    rooms.consent("c1", "a", true);
    assert!(matches!(
        kind(&mut r_rx),
        Some(ServerMessage::Consent { .. })
    ));

    let (c_tx, _c_rx) = mpsc::channel(QUEUE);
    let c = rooms.join("c1", peer("c"), c_tx);
    assert_eq!(c.recording.as_deref(), Some("recorder"));
    assert_eq!(c.peers, vec![peer("a"), peer("b")]);

    rooms.leave("c1", "recorder", conn, "consent_withdrawn");
    let last = std::iter::from_fn(|| kind(&mut b_rx)).last();
    assert!(matches!(
        last,
        Some(ServerMessage::Recording { state: RecordingState::Stopped, reason: Some(reason), .. })
            if reason == "consent_withdrawn"
    ));
}

#[test]
fn consents_and_the_recorder_reach_the_other_node() {
    let (a_bus, mut a_events) = mpsc::unbounded_channel();
    let (b_bus, mut b_events) = mpsc::unbounded_channel();
    let a = Rooms::with_bus("a".into(), a_bus);
    let b = Rooms::with_bus("b".into(), b_bus);
    let (x_tx, _x_rx) = mpsc::channel(QUEUE);
    let (r_tx, mut r_rx) = mpsc::channel(QUEUE);
    let (y_tx, mut y_rx) = mpsc::channel(QUEUE);
    a.join("c1", peer("x"), x_tx);
    a.consent("c1", "x", true);
    pump(&mut a_events, &b);
    b.join("c1", peer("y"), y_tx);
    pump(&mut b_events, &a);
    pump(&mut a_events, &b); // present, with x's consent
    assert_eq!(b.consent("c1", "y", true), Some(true));
    pump(&mut b_events, &a);
    assert!(a.recording_wanted("c1"));

    a.attach_recorder("c1", recorder(), r_tx)
        .expect("a recorder");
    pump(&mut a_events, &b);
    while let Some(message) = kind(&mut y_rx) {
        if let ServerMessage::Recording { state, .. } = message {
            assert_eq!(state, RecordingState::Started);
        }
    }
    let answer = ServerMessage::Answer {
        from: "y".into(),
        sdp: "v=0".into(),
    };
    assert_eq!(b.relay("c1", "y", Some("recorder"), answer.clone()), Ok(1));
    pump(&mut b_events, &a);
    while let Some(message) = kind(&mut r_rx) {
        if message.is_negotiation() {
            assert_eq!(message, answer);
        }
    }
    // y withdraws on b; a, where the recorder runs, learns of it.
    assert_eq!(b.consent("c1", "y", false), Some(false));
    pump(&mut b_events, &a);
    assert!(!a.recording_wanted("c1"));
    assert!(matches!(
        kind(&mut r_rx),
        Some(ServerMessage::Consent {
            recording: false,
            ..
        })
    ));
}

/// Two participants on two nodes consent at once: each node, considering
/// the room on its own participant's consent, has not heard the other's
/// yet. Once the consents cross, both nodes list the room as awaiting a
/// recorder, and neither does once one is attached.
#[test]
fn consents_given_at_once_on_two_nodes_leave_the_room_awaiting_a_recorder() {
    let (a_bus, mut a_events) = mpsc::unbounded_channel();
    let (b_bus, mut b_events) = mpsc::unbounded_channel();
    let a = Rooms::with_bus("a".into(), a_bus);
    let b = Rooms::with_bus("b".into(), b_bus);
    let (x_tx, _x_rx) = mpsc::channel(QUEUE);
    let (y_tx, _y_rx) = mpsc::channel(QUEUE);
    let (r_tx, _r_rx) = mpsc::channel(QUEUE);
    a.join("c1", peer("x"), x_tx);
    pump(&mut a_events, &b);
    b.join("c1", peer("y"), y_tx);
    pump(&mut b_events, &a);
    assert_eq!(a.consent("c1", "x", true), Some(false));
    assert_eq!(b.consent("c1", "y", true), Some(false));
    assert!(a.awaiting_recorder().is_empty() && b.awaiting_recorder().is_empty());

    pump(&mut a_events, &b);
    pump(&mut b_events, &a);
    assert_eq!(a.awaiting_recorder(), vec!["c1".to_owned()]);
    assert_eq!(b.awaiting_recorder(), vec!["c1".to_owned()]);

    a.attach_recorder("c1", recorder(), r_tx)
        .expect("a recorder");
    pump(&mut a_events, &b);
    assert!(a.awaiting_recorder().is_empty());
    assert!(b.awaiting_recorder().is_empty(), "b hears of a's recorder");
}
