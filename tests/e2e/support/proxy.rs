//! HAProxy (Debian's) in front of several nodes, as `deploy/haproxy.cfg`
//! puts it in front of the compose layout's: any node serves any request,
//! streams and call sockets in a backend of their own. Health checks are
//! quicker here, so a killed node leaves the rotation within a second.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::support::wait_until;

/// A running HAProxy; stopped on drop.
pub struct Haproxy {
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    _child: Child,
}

impl Haproxy {
    /// HAProxy on a free loopback port, balancing over `nodes` (`host:port`).
    pub async fn start(nodes: &[SocketAddr]) -> Haproxy {
        let dir = tempfile::tempdir().expect("a directory");
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let servers = |backend: &str| {
            nodes
                .iter()
                .enumerate()
                .map(|(i, node)| format!("    server {backend}-{i} {node}\n"))
                .collect::<String>()
        };
        let config = format!(
            "global\n    maxconn 4000\n\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 1m\n    \
             timeout server 1m\n    timeout tunnel 1h\n    option redispatch\n    retries 3\n    \
             default-server check inter 300ms fall 2 rise 2\n\n\
             frontend http\n    bind {addr}\n    option forwardfor\n    \
             use_backend ferry_streams if {{ path_beg /signal/ }} || {{ path /api/v1/notifications/stream }}\n    \
             default_backend ferry\n\n\
             backend ferry\n    balance roundrobin\n    option httpchk GET /readyz\n{}\n\
             backend ferry_streams\n    balance roundrobin\n    timeout server 1h\n    option httpchk GET /readyz\n{}",
            servers("ferry"),
            servers("streams"),
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("the configuration");
        let check = std::process::Command::new("/usr/sbin/haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("haproxy runs (`tools/install-test-tools test` installs it)");
        assert!(
            check.status.success(),
            "haproxy -c: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new("/usr/sbin/haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy starts");
        wait_until(
            "HAProxy accepts connections",
            Duration::from_secs(5),
            async || tokio::net::TcpStream::connect(addr).await.is_ok(),
        )
        .await;
        Haproxy {
            addr,
            _dir: dir,
            _child: child,
        }
    }
}
