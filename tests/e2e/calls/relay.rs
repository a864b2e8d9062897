//! Calls that can only go through TURN: a real coturn shares a secret with
//! Ferry, each participant asks Ferry for ICE servers, and webrtc-rs peers
//! restricted to relayed candidates meet through the signalling socket. With
//! a credential coturn does not accept (another secret, or one that has
//! lapsed) there is no relay, so there is no call.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use rtc::ice::mdns::MulticastDnsMode;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::UdpSocket;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder, RTCIceCandidateInit,
    RTCIceCandidateType, RTCIceServer, RTCIceTransportPolicy, RTCSessionDescription,
    SettingEngineBuilder,
};

use crate::support::calls::{accepted, join, next, send, Socket};
use crate::support::peers::{round_trip, Events, Gathered, PATIENCE};
use crate::support::scheduling::desk;
use crate::support::{poll_until, wait_until};
use crate::support::{spawn_app_with, TestApp, TestUser};

/// How long a call without candidates is watched in case it opens anyway.
/// With none on either side ICE has no pair to check, so nothing can open
/// late; the wait shows that nothing opens by some other path.
const NO_ROUTE_GRACE: Duration = Duration::from_secs(3);

/// A coturn of this test's own, on loopback, checking TURN REST credentials
/// against `secret` as a deployment's coturn would (`use-auth-secret`).
struct Coturn {
    port: u16,
    relay_ports: RangeInclusive<u16>,
    secret: String,
    log: PathBuf,
    _process: Child,
    _dir: TempDir,
}

impl Coturn {
    async fn start() -> Coturn {
        // A port found free can still be taken before coturn binds it, so
        // a coturn that exits or stays silent is tried on another port.
        for _ in 0..3 {
            if let Some(coturn) = Coturn::try_start(free_port()).await {
                return coturn;
            }
        }
        panic!("coturn did not start on any of three ports");
    }

    async fn try_start(port: u16) -> Option<Coturn> {
        let dir = tempfile::tempdir().expect("a directory for coturn");
        let secret = uuid::Uuid::new_v4().simple().to_string();
        // Above Linux's ephemeral range (32768–60999), where no socket bound
        // to port 0 (the peers', Ferry's) can land; spread by the listening
        // port so two tests' coturns rarely share relay ports.
        let first = 61_000 + (port % 450) * 10;
        let relay_ports = first..=first + 9;
        let log = dir.path().join("turn.log");
        let config = format!(
            "listening-ip=127.0.0.1\n\
             listening-port={port}\n\
             relay-ip=127.0.0.1\n\
             min-port={}\n\
             max-port={}\n\
             realm=ferry.test\n\
             use-auth-secret\n\
             static-auth-secret={secret}\n\
             no-tls\n\
             no-dtls\n\
             no-cli\n\
             fingerprint\n\
             allow-loopback-peers\n\
             pidfile={}\n\
             userdb={}\n\
             log-file={}\n\
             simple-log\n\
             no-stdout-log\n",
            relay_ports.start(),
            relay_ports.end(),
            dir.path().join("turnserver.pid").display(),
            dir.path().join("turndb").display(),
            log.display(),
        );
        let config_path = dir.path().join("turnserver.conf");
        std::fs::write(&config_path, config).expect("coturn's configuration is written");
        let mut process = Command::from(ferry_test_tools::command("/usr/bin/turnserver"))
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("coturn is installed at /usr/bin/turnserver");
        // Some(false): coturn exited, so this port is given up at once.
        let answered = poll_until(Duration::from_secs(10), async || {
            if process.try_wait().ok().flatten().is_some() {
                return Some(false);
            }
            answers_stun(port).await.then_some(true)
        })
        .await;
        match answered {
            Some(true) => {
                return Some(Coturn {
                    port,
                    relay_ports,
                    secret,
                    log,
                    _process: process,
                    _dir: dir,
                })
            }
            Some(false) => return None,
            None => {}
        }
        eprintln!(
            "coturn did not answer STUN on port {port} within 10 s; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        None
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}:127.0.0.1:{}", self.port)
    }

    /// Waits for coturn to log that it refused `username`: the proof that a
    /// peer without a relay asked this server and was turned away, rather
    /// than never reaching it.
    async fn logs_refusal(&self, username: &str, case: &str) {
        let line = format!("Cannot find credentials of user <{username}>");
        wait_until(
            &format!("{case}: coturn logs refusing {username}"),
            Duration::from_secs(5),
            async || std::fs::read_to_string(&self.log).is_ok_and(|log| log.contains(&line)),
        )
        .await;
    }
}

/// A port for coturn below Linux's ephemeral range (32768–60999), so no
/// socket bound to port 0 elsewhere in the suite can take it between this
/// check and coturn's bind; free on UDP and TCP, as is the next one, which
/// coturn also listens on (its alternative port).
fn free_port() -> u16 {
    loop {
        let port = 20_000 + (uuid::Uuid::new_v4().as_u128() % 12_000) as u16;
        let free = |p: u16| {
            std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
        };
        if free(port) && free(port + 1) {
            return port;
        }
    }
}

/// Whether something on `port` answers a STUN Binding request (RFC 8489 §6)
/// with a success response to that transaction within 100 ms.
async fn answers_stun(port: u16) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("a UDP socket on loopback");
    let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    request.extend_from_slice(&uuid::Uuid::new_v4().as_bytes()[..12]);
    if socket.send_to(&request, ("127.0.0.1", port)).await.is_err() {
        return false;
    }
    let mut response = [0u8; 1024];
    match timeout(Duration::from_millis(100), socket.recv(&mut response)).await {
        Ok(Ok(n)) => n >= 20 && response[..2] == [0x01, 0x01] && response[8..20] == request[8..20],
        _ => false,
    }
}

/// The `iceServers` of Ferry's answer, as webrtc-rs takes them; STUN entries
/// come without a username or credential.
fn ice_servers(body: &Value) -> Vec<RTCIceServer> {
    let servers = body["ice_servers"]
        .as_array()
        .expect("a list of ICE servers");
    servers
        .iter()
        .map(|server| RTCIceServer {
            urls: serde_json::from_value(server["urls"].clone()).expect("a list of URLs"),
            username: server["username"].as_str().unwrap_or_default().to_owned(),
            credential: server["credential"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// The type and port of a candidate line, `candidate:<foundation>
/// <component> <protocol> <priority> <address> <port> typ <type> …`
/// (RFC 8839 §5.1).
fn type_and_port(line: &str) -> (&str, u16) {
    let fields: Vec<&str> = line.split_whitespace().collect();
    match fields.iter().position(|field| *field == "typ") {
        Some(at) if at > 0 && at + 1 < fields.len() => {
            let port = fields[at - 1].parse().unwrap_or_else(|_| panic!("{line}"));
            (fields[at + 1], port)
        }
        _ => panic!("not a candidate line: {line}"),
    }
}

/// A participant whose peer connection may only use relayed candidates, and
/// whose negotiation this test drives step by step over the Ferry socket.
struct Peer {
    pc: Arc<dyn PeerConnection>,
    socket: Socket,
    gathered: mpsc::UnboundedReceiver<Gathered>,
    /// The TURN username Ferry minted for this participant.
    turn_username: String,
    /// The candidate lines the other participant sent through Ferry.
    heard: Vec<String>,
}

impl Peer {
    async fn join(app: &TestApp, user: &TestUser, id: i64) -> Peer {
        let (status, body) = app.get("/api/v1/ice-servers", &user.token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let turn_username = body["ice_servers"]
            .as_array()
            .and_then(|servers| servers.iter().find_map(|s| s["username"].as_str()))
            .expect("a TURN server with a username")
            .to_owned();
        let (gathered_tx, gathered) = mpsc::unbounded_channel();
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .build();
        let configuration = RTCConfigurationBuilder::default()
            .with_ice_servers(ice_servers(&body))
            .with_ice_transport_policy(RTCIceTransportPolicy::Relay)
            .build();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(configuration)
            .with_setting_engine(settings)
            .with_handler(Arc::new(Events {
                gathered: gathered_tx,
            }))
            .with_udp_addrs(vec!["127.0.0.1:0"])
            .build()
            .await
            .expect("a peer connection on loopback");
        let (socket, _) = join(app, user, id).await;
        Peer {
            pc: Arc::new(pc),
            socket,
            gathered,
            turn_username,
            heard: Vec::new(),
        }
    }

    async fn expect(&mut self, kind: &str) -> Value {
        let message = next(&mut self.socket).await;
        assert_eq!(message["type"], kind, "{message}");
        message
    }

    async fn offer(&mut self) -> Arc<dyn DataChannel> {
        let channel = self
            .pc
            .create_data_channel("consultation", None)
            .await
            .expect("a data channel");
        let offer = self.pc.create_offer(None).await.expect("an offer");
        self.pc
            .set_local_description(offer.clone())
            .await
            .expect("the offer applies locally");
        send(
            &mut self.socket,
            json!({ "type": "offer", "sdp": offer.sdp }),
        )
        .await;
        channel
    }

    async fn answer(&mut self) {
        let offer = self.expect("offer").await;
        let sdp = offer["sdp"].as_str().expect("an sdp").to_owned();
        self.pc
            .set_remote_description(RTCSessionDescription::offer(sdp).expect("an offer"))
            .await
            .expect("the offer applies");
        let answer = self.pc.create_answer(None).await.expect("an answer");
        self.pc
            .set_local_description(answer.clone())
            .await
            .expect("the answer applies locally");
        send(
            &mut self.socket,
            json!({ "type": "answer", "sdp": answer.sdp, "to": offer["from"] }),
        )
        .await;
    }

    async fn accept_answer(&mut self) {
        let answer = self.expect("answer").await;
        let sdp = answer["sdp"].as_str().expect("an sdp").to_owned();
        self.pc
            .set_remote_description(RTCSessionDescription::answer(sdp).expect("an answer"))
            .await
            .expect("the answer applies");
    }

    /// Sends every candidate gathered, then the end of candidates, once
    /// gathering is complete; returns how many there were.
    async fn trickle(&mut self) -> usize {
        let mut sent = 0;
        loop {
            let gathered = timeout(PATIENCE, self.gathered.recv())
                .await
                .expect("gathering completes in time")
                .expect("the peer connection is open");
            let candidate = match gathered {
                Some(candidate) => {
                    sent += 1;
                    json!(candidate)
                }
                None => Value::Null,
            };
            let end = candidate.is_null();
            send(
                &mut self.socket,
                json!({ "type": "ice-candidate", "candidate": candidate }),
            )
            .await;
            if end {
                return sent;
            }
        }
    }

    /// Applies the other participant's candidates up to their end.
    async fn hear(&mut self) {
        loop {
            let message = self.expect("ice-candidate").await;
            if message["candidate"].is_null() {
                return;
            }
            let candidate: RTCIceCandidateInit =
                serde_json::from_value(message["candidate"].clone()).expect("a candidate");
            self.heard.push(candidate.candidate.clone());
            self.pc
                .add_ice_candidate(candidate)
                .await
                .expect("the candidate applies");
        }
    }

    /// The types of the candidate pair ICE nominated, local then remote.
    async fn selected_pair(&self) -> (RTCIceCandidateType, RTCIceCandidateType) {
        let sctp = self.pc.sctp().await.expect("an SCTP transport");
        let pair = sctp
            .transport()
            .ice_transport()
            .get_selected_candidate_pair()
            .await
            .expect("the ICE transport answers")
            .expect("a nominated pair");
        (pair.local().typ, pair.remote().typ)
    }
}

/// The clinician offers, the expert answers, then each sends the candidates
/// it gathered and applies the other's: the whole negotiation, in an order
/// that lets each step wait for the one before it. Returns the clinician's
/// data channel and how many candidates each side gathered.
async fn negotiate(
    clinician: &mut Peer,
    expert: &mut Peer,
) -> (Arc<dyn DataChannel>, usize, usize) {
    let channel = clinician.offer().await;
    expert.answer().await;
    clinician.accept_answer().await;
    let clinician_sent = clinician.trickle().await;
    let expert_sent = expert.trickle().await;
    expert.hear().await;
    clinician.hear().await;
    (channel, clinician_sent, expert_sent)
}

/// Whether `channel` opens within `wait`.
async fn opens_within(channel: &dyn DataChannel, wait: Duration) -> bool {
    let opened = async {
        while let Some(event) = channel.poll().await {
            if matches!(event, DataChannelEvent::OnOpen) {
                return true;
            }
        }
        false
    };
    timeout(wait, opened).await.unwrap_or(false)
}

/// Waits until the TURN username's expiry (`<unix seconds>:<user id>`) is
/// in the past.
async fn lapsed(username: &str) {
    let (expiry, _) = username.split_once(':').expect("<expiry>:<user id>");
    let expiry: u64 = expiry.parse().expect("unix seconds");
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs()
    };
    // coturn compares with a clock it advances about once a second, and it
    // lags under load: one more second keeps "lapsed" lapsed for it too.
    // Time itself is what is tested here (a credential that has expired), so
    // this sleeps out the wall clock rather than polling the server.
    let expired_at = UNIX_EPOCH + Duration::from_secs(expiry + 2);
    if let Ok(left) = expired_at.duration_since(SystemTime::now()) {
        sleep(left).await;
    }
    assert!(now() > expiry + 1, "the clock reached the expiry");
}

/// Ferry configured with `coturn` as its STUN and TURN server, minting
/// credentials from `secret` that last `ttl_seconds`.
async fn ferry(coturn: &Coturn, secret: &str, ttl_seconds: u64) -> TestApp {
    let secret = secret.to_owned();
    spawn_app_with(|s| {
        s.stun_urls = vec![coturn.url("stun")];
        s.turn_urls = vec![format!("{}?transport=udp", coturn.url("turn"))];
        s.turn_secret = Some(secret.into());
        s.turn_ttl_seconds = ttl_seconds;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_connect_only_through_coturn_with_credentials_minted_by_ferry() {
    let coturn = Coturn::start().await;
    let app = ferry(&coturn, &coturn.secret, 600).await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let mut clinician = Peer::join(&app, &d.clinician, id).await;
    let mut expert = Peer::join(&app, &d.expert, id).await;
    clinician.expect("peer-joined").await;

    let (channel, clinician_sent, expert_sent) = negotiate(&mut clinician, &mut expert).await;
    let echoed = round_trip(&*channel, "ping through the relay").await;

    assert_eq!(echoed, "ping through the relay");
    assert!(
        clinician_sent > 0 && expert_sent > 0,
        "both sides had a relay"
    );
    assert_eq!(clinician.heard.len(), expert_sent);
    assert_eq!(expert.heard.len(), clinician_sent);
    for (who, peer) in [("clinician", &clinician), ("expert", &expert)] {
        // Relay candidates only: a host candidate here would mean the peers
        // could have met directly, without coturn.
        for line in &peer.heard {
            let (typ, port) = type_and_port(line);
            assert_eq!(typ, "relay", "the {who} heard {line}");
            assert!(
                coturn.relay_ports.contains(&port),
                "the {who} heard {line}, not one of coturn's relay ports {:?}",
                coturn.relay_ports
            );
        }
        assert_eq!(
            peer.selected_pair().await,
            (RTCIceCandidateType::Relay, RTCIceCandidateType::Relay),
            "the {who}'s nominated pair"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_expired_turn_credentials_get_no_relay() {
    let coturn = Coturn::start().await;
    let other_secret = format!("not-{}", coturn.secret);
    let wrong = ferry(&coturn, &other_secret, 600).await;
    // Ferry mints a credential that expires the second it is issued; coturn
    // still honours it during that second, so it is used once it has passed.
    let lapsing = ferry(&coturn, &coturn.secret, 0).await;

    for (case, app, lapse) in [
        ("another secret", &wrong, false),
        ("expired", &lapsing, true),
    ] {
        let d = desk(app).await;
        let id = accepted(app, &d).await;
        let mut clinician = Peer::join(app, &d.clinician, id).await;
        let mut expert = Peer::join(app, &d.expert, id).await;
        clinician.expect("peer-joined").await;
        if lapse {
            lapsed(&clinician.turn_username).await;
            lapsed(&expert.turn_username).await;
        }

        let (channel, clinician_sent, expert_sent) = negotiate(&mut clinician, &mut expert).await;
        let opened = opens_within(&*channel, NO_ROUTE_GRACE).await;

        assert_eq!(
            (clinician_sent, expert_sent),
            (0, 0),
            "{case}: no candidate at all"
        );
        assert!(!opened, "{case}: the data channel opened without a relay");
        for username in [&clinician.turn_username, &expert.turn_username] {
            coturn.logs_refusal(username, case).await;
        }
    }
}
