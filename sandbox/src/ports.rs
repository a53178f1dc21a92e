//! Ports: within one process, the sandbox never hands out the same port twice.
//!
//! Servers and fault proxies get their ports from the kernel (a bind to port 0), and the
//! kernel hands a released port out again sooner or later. In a test process that is a trap:
//! the code under test may keep process-wide state keyed by host and port (`mysql_lb` keeps
//! a blacklist and per-host response times), so a server of a later sandbox that got the
//! port of a server an earlier test killed would start out blacklisted, and a port a test
//! kept as "nothing listens here" could come back to life. The sandbox knows nothing of the
//! code under test, so instead of clearing that state it makes the situation impossible:
//! every port it hands out is recorded in a process-wide set, and when the kernel offers a
//! port already in the set the sandbox keeps that socket bound (so the kernel must offer
//! another one) and asks again.
//!
//! What is not a new hand-out: a server keeps its port across [`Sandbox::restart`] (it is
//! the same server) and a proxy binds its own port again when it leaves Refuse.
//!
//! [`fresh_port`] offers the same promise to tests that need a port of their own, e.g. one
//! that nothing listens on.
//!
//! [`Sandbox::restart`]: crate::Sandbox::restart

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{LazyLock, Mutex, PoisonError};

/// How many ports the kernel may offer that this process has used already before we give
/// up. Each one is held bound while we ask again, so the kernel cannot offer it twice; with
/// tens of thousands of ephemeral ports this bound is never reached in practice.
const ATTEMPTS: usize = 256;

/// Every port handed out in this process (servers, proxies, [`fresh_port`]).
static USED: LazyLock<Mutex<HashSet<u16>>> = LazyLock::new(Mutex::default);

/// A listener on 127.0.0.1 on a port this process has never handed out, now recorded as
/// handed out.
pub(crate) fn bind_fresh() -> io::Result<TcpListener> {
    // The lock is held across the binds so two threads cannot both take the same port.
    let mut used = USED.lock().unwrap_or_else(PoisonError::into_inner);
    // Ports we have used already, kept bound until we return so the kernel offers others.
    let mut held = Vec::new();
    for _ in 0..ATTEMPTS {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        if used.insert(port) {
            return Ok(listener);
        }
        held.push(listener);
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("the kernel offered {ATTEMPTS} ports in a row that this process had used"),
    ))
}

/// A port on 127.0.0.1 that nothing listened on a moment ago and that the sandbox will never
/// hand out in this process (not to a server, not to a proxy, not to another caller).
///
/// Nothing listens on it when this returns: the socket the kernel picked it for is closed. Another
/// process may still take it, as with any port that is not held.
pub fn fresh_port() -> io::Result<u16> {
    bind_fresh()?.local_addr().map(|a| a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_the_same_port_twice() {
        let ports: Vec<u16> = (0..200).map(|_| fresh_port().unwrap()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
    }

    #[test]
    fn a_listener_is_on_a_port_not_handed_out_before() {
        let before = fresh_port().unwrap();
        let listener = bind_fresh().unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_ne!(port, before);
        assert!(USED.lock().unwrap().contains(&port));
    }
}
