//! Which web pages may open a signalling WebSocket.
//!
//! A WebSocket handshake is not subject to the same-origin policy: a page on
//! any site can open one to Ferry, and the browser sends the user's session
//! cookie with it (cross-site WebSocket hijacking). What the browser does
//! send, and a page cannot forge, is `Origin`. So the upgrade is refused
//! unless `Origin` is one of the server's own, which the server passes in
//! (this crate knows nothing of its configuration).
//!
//! A handshake without `Origin` is let through: every browser sends one on a
//! WebSocket handshake (RFC 6455 §4.1 requires it), so its absence means a
//! native client or a tool, which can write any header it likes and cannot
//! borrow a victim's cookies anyway; it still has to authenticate.

/// The origins allowed to open a signalling WebSocket.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    /// `scheme://host[:port]`, lower case.
    origins: Vec<String>,
    /// Also allow an origin whose `host[:port]` is the request's `Host`:
    /// for a server that does not know the name clients reach it by.
    same_as_host: bool,
}

impl AllowedOrigins {
    /// `origins` as `scheme://host[:port]`; `same_as_host` to also allow a
    /// page served from the `Host` the request was sent to.
    pub fn new(origins: impl IntoIterator<Item = String>, same_as_host: bool) -> Self {
        Self {
            origins: origins
                .into_iter()
                .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            same_as_host,
        }
    }

    /// Whether a handshake with this `Origin` (and `Host`) may upgrade.
    pub fn permits(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let origin = origin.trim().to_ascii_lowercase();
        if self.origins.contains(&origin) {
            return true;
        }
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match (self.same_as_host, authority, host) {
            (true, Some(authority), Some(host)) => authority == host.trim().to_ascii_lowercase(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AllowedOrigins;

    #[test]
    fn only_the_servers_own_origins_pass() {
        let allowed = AllowedOrigins::new(["https://ferry.example".to_owned()], false);
        assert!(allowed.permits(Some("https://ferry.example"), Some("ferry.example")));
        assert!(allowed.permits(Some("HTTPS://Ferry.Example"), None));
        assert!(allowed.permits(None, Some("ferry.example")));
        assert!(!allowed.permits(Some("https://evil.example"), Some("ferry.example")));
        assert!(!allowed.permits(Some("null"), Some("ferry.example")));
        // Without `same_as_host`, a matching Host is not enough.
        assert!(!allowed.permits(Some("http://ferry.example"), Some("ferry.example")));
    }

    #[test]
    fn same_as_host_allows_the_page_the_request_was_sent_to() {
        let allowed = AllowedOrigins::new(Vec::new(), true);
        assert!(allowed.permits(Some("http://10.0.0.5:8080"), Some("10.0.0.5:8080")));
        assert!(!allowed.permits(Some("http://evil.example"), Some("10.0.0.5:8080")));
        assert!(!allowed.permits(Some("file://"), Some("10.0.0.5:8080")));
    }
}
