//! [`FaultProxy`]: a TCP hop in front of one server that can delay, hang, reset or refuse.
//!
//! Killing or pausing a real server covers "host down" and "host hung", but not the network
//! faults between client and server; this proxy adds those, switchable at run time, for new
//! and existing connections alike.
//!
//! How it is built, and why:
//! - Each connection is one task that owns both sockets and drives four borrowed halves
//!   (read and write, each way) with `readable`/`try_read` and `writable`/`try_write`.
//!   Owning the sockets in one place lets a Reset set `SO_LINGER` 0 on both and drop them,
//!   which is what makes the kernel send RST rather than FIN.
//! - Every read chunk carries a delivery time (`now + latency / 2`) to a writer through a
//!   FIFO channel; the writer sleeps until then. A round trip thus costs the full latency,
//!   chunks are never reordered, and throughput does not collapse to one chunk per delay.
//! - The mode lives in a `watch` channel; every pump re-checks it before forwarding, so a
//!   change applies to existing connections at once. Blackhole makes pumps stop reading and
//!   writing (the kernel buffers fill and the peers hang); leaving Blackhole resumes them,
//!   like a healed partition. A connection accepted during Blackhole connects upstream only
//!   when the mode changes.
//! - Refuse must take effect before `set_mode` returns, or a test's next connect could still
//!   be accepted. The accept task owns the listener, so `set_mode` keeps a duplicate of its
//!   fd and calls `shutdown(2)` on it: on Linux that takes a listening socket out of LISTEN
//!   (new connects get ECONNREFUSED) and wakes the pending `accept` with an error. Leaving
//!   Refuse binds the same port again right away (`std` sets `SO_REUSEADDR` on listeners) and
//!   hands the new listener to the accept task; connects that arrive in between wait in the
//!   kernel's backlog.
//! - CutReplyTo needs packet boundaries, so the client-to-server reader always runs the
//!   bytes it forwards through a small MySQL packet scanner (`Scanner`; it keeps only the
//!   first bytes of each packet). When a matching `COM_QUERY` ends, the bytes up to its end go
//!   to the server's writer as a `Cut` chunk: the writer arms the connection's `CutState`
//!   before writing them, so whatever the server sends after that is the reply. The
//!   server-to-client reader drops what it reads once armed and signals the connection task,
//!   which resets the client socket and closes the server one.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What a [`FaultProxy`] does to traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward both ways.
    Pass,
    /// Forward, delaying every chunk by half of this in each direction (so a round trip costs
    /// about this much more), without reordering; applies to existing connections too.
    Latency(Duration),
    /// New connections are accepted and never answered; existing ones stop forwarding in both
    /// directions (they hang). Leaving this mode lets them carry on.
    Blackhole,
    /// New connections are accepted and immediately reset (RST); existing ones are reset too.
    Reset,
    /// Stop listening, so connects get ECONNREFUSED; existing connections keep working. The
    /// same port is listened on again when the mode changes.
    Refuse,
    /// Forward both ways, except the reply to one statement: when a client sends a
    /// `COM_QUERY` whose SQL text, after leading whitespace, starts with this prefix (ASCII
    /// case-insensitive, e.g. `"COMMIT"`), the packet is forwarded to the server, the server's
    /// reply is read and thrown away (so the server provably received and ran the statement),
    /// and then the client's connection is reset (RST) without the reply; the server side is
    /// closed. Applies to existing connections too. This is "the connection failed after the
    /// statement was sent, before its answer came back". Only plain (uncompressed, non-TLS)
    /// connections are understood, as the sandbox makes them; prepared statements
    /// (`COM_STMT_EXECUTE`) are never matched.
    CutReplyTo(&'static str),
}

/// A chunk on its way from a reader to the writer of the other socket.
enum Chunk {
    Data {
        at: Instant,
        bytes: Vec<u8>,
    },
    /// The last chunk to the server in [`ProxyMode::CutReplyTo`]: ends with the matching
    /// statement. The writer arms the cut before writing it.
    Cut {
        at: Instant,
        bytes: Vec<u8>,
    },
    Eof,
}

/// One connection's [`ProxyMode::CutReplyTo`] state.
#[derive(Default)]
struct CutState {
    /// The matching statement is being written to the server: what comes back is its reply.
    armed: AtomicBool,
    /// The reply (or EOF) came: reset the client.
    done: Notify,
}

/// How many bytes of a packet's payload [`Scanner`] keeps: the command byte, some leading
/// whitespace and the prefix.
const SCAN_HEAD: usize = 256;

/// The largest payload of one MySQL packet; a payload this long continues in the next packet.
const MAX_PAYLOAD: usize = 0xff_ffff;

/// Finds MySQL packet boundaries in the client-to-server byte stream, however the stream is
/// split into reads, and says where a `COM_QUERY` starting with a given prefix ends.
#[derive(Default)]
struct Scanner {
    /// The 4-byte header being read (3-byte little-endian length, sequence id).
    header: [u8; 4],
    header_len: usize,
    /// Payload bytes of the current packet still to come.
    remaining: usize,
    /// The first bytes of the current logical packet's payload.
    head: Vec<u8>,
    /// The current logical packet starts with sequence id 0 (a command, not a handshake or
    /// authentication packet).
    command: bool,
    /// The current physical packet is full-length: the logical packet continues.
    continues: bool,
    /// Inside a logical packet that spans several physical ones.
    in_continuation: bool,
}

impl Scanner {
    /// Scans `bytes`; returns the offset just past the end of the first packet in them that is
    /// a `COM_QUERY` whose text starts with `prefix` (after whitespace, case-insensitive).
    fn feed(&mut self, bytes: &[u8], prefix: Option<&str>) -> Option<usize> {
        let mut pos = 0;
        while pos < bytes.len() {
            if self.header_len < 4 {
                let take = (4 - self.header_len).min(bytes.len() - pos);
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&bytes[pos..pos + take]);
                self.header_len += take;
                pos += take;
                if self.header_len < 4 {
                    return None;
                }
                let len = usize::from(self.header[0])
                    | usize::from(self.header[1]) << 8
                    | usize::from(self.header[2]) << 16;
                if !self.in_continuation {
                    self.head.clear();
                    self.command = self.header[3] == 0;
                }
                self.remaining = len;
                self.continues = len == MAX_PAYLOAD;
            }
            let take = self.remaining.min(bytes.len() - pos);
            let room = SCAN_HEAD.saturating_sub(self.head.len()).min(take);
            self.head.extend_from_slice(&bytes[pos..pos + room]);
            self.remaining -= take;
            pos += take;
            if self.remaining == 0 {
                // The physical packet is complete.
                self.header_len = 0;
                self.in_continuation = self.continues;
                if !self.continues
                    && let Some(prefix) = prefix
                    && self.matches(prefix)
                {
                    return Some(pos);
                }
            }
        }
        None
    }

    fn matches(&self, prefix: &str) -> bool {
        if !self.command || self.head.first() != Some(&0x03) {
            return false;
        }
        let text = &self.head[1..];
        let start = text
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(text.len());
        let text = &text[start..];
        text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    }
}

struct Listening {
    /// A listener made by `set_mode`, waiting for the accept task.
    fresh: Option<std::net::TcpListener>,
    /// A duplicate fd of the current listener, to shut it down from `set_mode` or `drop`.
    control: Option<OwnedFd>,
}

struct Shared {
    target: SocketAddr,
    addr: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    shutdown: watch::Sender<bool>,
    connections: AtomicUsize,
    listening: Mutex<Listening>,
    new_listener: Notify,
}

impl Shared {
    fn listening(&self) -> std::sync::MutexGuard<'_, Listening> {
        self.listening.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds the proxy's port (again) and hands the listener to the accept task.
    fn bind(&self, listening: &mut Listening) -> io::Result<()> {
        // std sets SO_REUSEADDR on Unix listeners, so the port can be bound again while
        // connections accepted on the old listener still exist.
        let listener = std::net::TcpListener::bind(self.addr)?;
        listener.set_nonblocking(true)?;
        listening.control = Some(listener.as_fd().try_clone_to_owned()?);
        listening.fresh = Some(listener);
        self.new_listener.notify_one();
        Ok(())
    }
}

/// Stops a listening socket now, even though another handle to it is still open.
fn stop_listening(control: OwnedFd) {
    // SAFETY: shutdown(2) on an fd we own.
    unsafe { libc::shutdown(control.as_raw_fd(), libc::SHUT_RDWR) };
}

/// A TCP proxy on 127.0.0.1 in front of one target address, with switchable faults.
///
/// Dropping it stops listening and closes every proxied connection.
pub struct FaultProxy {
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.shared.addr)
            .field("target", &self.shared.target)
            .field("mode", &self.mode())
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy listening on 127.0.0.1 (a free port no other server or proxy of this
    /// process ever had) and forwarding to `target`, in [`ProxyMode::Pass`].
    pub async fn start(target: SocketAddr) -> io::Result<FaultProxy> {
        let listener = super::ports::bind_fresh()?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let control = listener.as_fd().try_clone_to_owned()?;
        let shared = Arc::new(Shared {
            target,
            addr,
            mode: watch::Sender::new(ProxyMode::Pass),
            shutdown: watch::Sender::new(false),
            connections: AtomicUsize::new(0),
            listening: Mutex::new(Listening {
                fresh: Some(listener),
                control: Some(control),
            }),
            new_listener: Notify::new(),
        });
        let accept_task = tokio::spawn(accept_loop(shared.clone()));
        Ok(FaultProxy {
            shared,
            accept_task,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The port clients connect to (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.shared.addr.port()
    }

    /// The address traffic is forwarded to.
    pub fn target(&self) -> SocketAddr {
        self.shared.target
    }

    /// Switches the fault mode; takes effect for new and existing connections. Entering and
    /// leaving [`ProxyMode::Refuse`] closes / reopens the listening socket before returning.
    pub fn set_mode(&self, mode: ProxyMode) {
        let mut listening = self.shared.listening();
        let old = *self.shared.mode.borrow();
        if mode == ProxyMode::Refuse && old != ProxyMode::Refuse {
            listening.fresh = None;
            if let Some(control) = listening.control.take() {
                stop_listening(control);
            }
        } else if old == ProxyMode::Refuse
            && mode != ProxyMode::Refuse
            && let Err(e) = self.shared.bind(&mut listening)
        {
            // The accept task keeps trying.
            tracing::warn!(addr = %self.shared.addr, error = %e, "fault proxy cannot listen again yet");
        }
        self.shared.mode.send_replace(mode);
    }

    /// The current fault mode.
    pub fn mode(&self) -> ProxyMode {
        *self.shared.mode.borrow()
    }

    /// How many connections the proxy has accepted so far (in any mode).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        let mut listening = self.shared.listening();
        listening.fresh = None;
        if let Some(control) = listening.control.take() {
            stop_listening(control);
        }
        drop(listening);
        self.accept_task.abort();
    }
}

/// Accepts connections while a listener exists; waits for a new one in Refuse.
async fn accept_loop(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut mode = shared.mode.subscribe();
    loop {
        // Get the listener that `bind` made (or make one if `set_mode` could not).
        let std_listener = loop {
            if *shutdown.borrow() {
                return;
            }
            {
                let mut listening = shared.listening();
                if let Some(l) = listening.fresh.take() {
                    break l;
                }
                if *mode.borrow() != ProxyMode::Refuse
                    && listening.control.is_none()
                    && let Err(e) = shared.bind(&mut listening)
                {
                    tracing::debug!(error = %e, "fault proxy rebind failed");
                }
            }
            tokio::select! {
                _ = shared.new_listener.notified() => {}
                _ = shutdown.changed() => {}
                _ = mode.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        };
        let Ok(listener) = TcpListener::from_std(std_listener) else {
            continue;
        };
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                accepted = listener.accept() => match accepted {
                    Ok((client, _)) => {
                        shared.connections.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(proxy_connection(shared.clone(), client));
                    }
                    Err(e) => {
                        // After `stop_listening` (Refuse, or Refuse and back) accept fails
                        // with EINVAL: go and get the new listener, if any.
                        let stopped = e.kind() == io::ErrorKind::InvalidInput
                            || *mode.borrow() == ProxyMode::Refuse
                            || shared.listening().fresh.is_some();
                        if stopped {
                            break;
                        }
                        // Transient (EMFILE, ECONNABORTED, ...): back off a little.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        }
    }
}

/// Makes the kernel send RST instead of FIN when the socket is dropped.
fn arm_reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// Carries one client connection to the target, applying the mode as it changes.
async fn proxy_connection(shared: Arc<Shared>, client: TcpStream) {
    let mut mode = shared.mode.subscribe();
    let mut shutdown = shared.shutdown.subscribe();

    // Decide what to do with the new connection.
    loop {
        let current = *mode.borrow_and_update();
        match current {
            ProxyMode::Reset => {
                arm_reset(&client);
                return;
            }
            ProxyMode::Blackhole => {
                tokio::select! {
                    _ = mode.changed() => continue,
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
            _ => break,
        }
    }
    let upstream = tokio::select! {
        _ = shutdown.wait_for(|s| *s) => return,
        r = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(shared.target)) => r,
    };
    let server = match upstream {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(target_addr = %shared.target, error = %e, "fault proxy cannot reach its target");
            return;
        }
        Err(_) => return,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);

    let (to_server, from_client) = mpsc::channel(64);
    let (to_client, from_server) = mpsc::channel(64);
    let cut = CutState::default();
    let pumps = async {
        tokio::try_join!(
            read_side(
                &client,
                to_server,
                shared.mode.subscribe(),
                Side::FromClient(Scanner::default())
            ),
            write_side(&server, from_client, shared.mode.subscribe(), &cut),
            read_side(
                &server,
                to_client,
                shared.mode.subscribe(),
                Side::FromServer(&cut)
            ),
            write_side(&client, from_server, shared.mode.subscribe(), &cut),
        )
    };
    tokio::select! {
        biased;
        _ = mode.wait_for(|m| *m == ProxyMode::Reset) => {
            arm_reset(&client);
            arm_reset(&server);
        }
        _ = shutdown.wait_for(|s| *s) => {}
        _ = cut.done.notified() => {}
        _ = pumps => {}
    }
    if cut.armed.load(Ordering::SeqCst) {
        // The cut statement was sent (and, unless the server went away, answered): the client
        // never hears the answer; its connection is reset. The pumps may all have ended by
        // themselves once the server reader stopped, so this is checked whichever branch won.
        arm_reset(&client);
    }
    // Both sockets are dropped here: FIN, or RST if armed.
}

/// Waits while the mode is Blackhole; returns false if the proxy is gone.
async fn wait_not_blackhole(mode: &mut watch::Receiver<ProxyMode>) -> bool {
    mode.wait_for(|m| *m != ProxyMode::Blackhole).await.is_ok()
}

/// Which socket a reader reads, and what it does for [`ProxyMode::CutReplyTo`].
enum Side<'a> {
    /// The client: packets are scanned for the statement to cut.
    FromClient(Scanner),
    /// The server: once the cut is armed, what it sends is dropped and the cut is done.
    FromServer(&'a CutState),
}

/// Reads chunks from `src` and queues them, stamped with their delivery time.
async fn read_side(
    src: &TcpStream,
    tx: mpsc::Sender<Chunk>,
    mut mode: watch::Receiver<ProxyMode>,
    mut side: Side<'_>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !wait_not_blackhole(&mut mode).await {
            return Ok(());
        }
        mode.borrow_and_update();
        tokio::select! {
            biased;
            _ = mode.changed() => continue,
            ready = src.readable() => ready?,
        }
        let latency = match *mode.borrow() {
            ProxyMode::Blackhole => continue,
            ProxyMode::Latency(d) => d / 2,
            _ => Duration::ZERO,
        };
        let n = match src.try_read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        match &mut side {
            Side::FromServer(cut) if cut.armed.load(Ordering::SeqCst) => {
                // The reply to the cut statement (or EOF): thrown away.
                cut.done.notify_one();
                return Ok(());
            }
            Side::FromClient(scanner) => {
                let prefix = match *mode.borrow() {
                    ProxyMode::CutReplyTo(p) => Some(p),
                    _ => None,
                };
                if let Some(end) = scanner.feed(&buf[..n], prefix) {
                    // Nothing after the statement is forwarded: the client waits for its
                    // reply, which never comes.
                    let _ = tx
                        .send(Chunk::Cut {
                            at: Instant::now() + latency,
                            bytes: buf[..end].to_vec(),
                        })
                        .await;
                    return Ok(());
                }
            }
            Side::FromServer(_) => {}
        }
        let chunk = if n == 0 {
            Chunk::Eof
        } else {
            Chunk::Data {
                at: Instant::now() + latency,
                bytes: buf[..n].to_vec(),
            }
        };
        if tx.send(chunk).await.is_err() || n == 0 {
            return Ok(());
        }
    }
}

/// Writes queued chunks to `dst` at their delivery time; half-closes it on EOF.
async fn write_side(
    dst: &TcpStream,
    mut rx: mpsc::Receiver<Chunk>,
    mut mode: watch::Receiver<ProxyMode>,
    cut: &CutState,
) -> io::Result<()> {
    while let Some(chunk) = rx.recv().await {
        let (at, bytes) = match chunk {
            Chunk::Data { at, bytes } => (at, bytes),
            Chunk::Cut { at, bytes } => {
                // Armed before the statement's last byte leaves: the server cannot answer
                // before that, so everything read from it afterwards is the reply.
                cut.armed.store(true, Ordering::SeqCst);
                (at, bytes)
            }
            Chunk::Eof => {
                // SAFETY: shutdown(2) of the write side of a socket we hold.
                unsafe { libc::shutdown(dst.as_raw_fd(), libc::SHUT_WR) };
                return Ok(());
            }
        };
        tokio::time::sleep_until(at).await;
        let mut written = 0;
        while written < bytes.len() {
            if !wait_not_blackhole(&mut mode).await {
                return Ok(());
            }
            mode.borrow_and_update();
            tokio::select! {
                biased;
                _ = mode.changed() => continue,
                ready = dst.writable() => ready?,
            }
            if *mode.borrow() == ProxyMode::Blackhole {
                continue;
            }
            match dst.try_write(&bytes[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One MySQL packet: header (length, sequence id) and payload.
    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut p = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, seq];
        p.extend_from_slice(payload);
        p
    }

    fn query(sql: &str) -> Vec<u8> {
        let mut payload = vec![0x03];
        payload.extend_from_slice(sql.as_bytes());
        packet(0, &payload)
    }

    #[test]
    fn finds_the_end_of_a_matching_query_among_several() {
        let mut stream = query("SELECT 1");
        stream.extend(packet(0, &[0x19, 1, 0, 0, 0])); // COM_STMT_CLOSE
        let end = stream.len() + query("  commit").len();
        stream.extend(query("  commit"));
        stream.extend(query("SELECT 2"));
        let mut s = Scanner::default();
        assert_eq!(s.feed(&stream, Some("COMMIT")), Some(end));
    }

    #[test]
    fn finds_it_across_reads_of_any_size() {
        let mut stream = query(&format!("SELECT '{}'", "y".repeat(40_000)));
        stream.extend(query("COMMIT"));
        for step in [1, 3, 4, 5, 7, 1000, 16 * 1024] {
            let mut s = Scanner::default();
            let mut found = None;
            for (k, chunk) in stream.chunks(step).enumerate() {
                if let Some(end) = s.feed(chunk, Some("COMMIT")) {
                    found = Some(k * step + end);
                    break;
                }
            }
            assert_eq!(found, Some(stream.len()), "reads of {step} bytes");
        }
    }

    #[test]
    fn ignores_other_statements_and_non_command_packets() {
        let mut s = Scanner::default();
        assert_eq!(s.feed(&query("SELECT 'COMMIT'"), Some("COMMIT")), None);
        assert_eq!(s.feed(&query("COMMIT"), None), None);
        assert_eq!(s.feed(&query("COMMI"), Some("COMMIT")), None);
        // A handshake response (sequence id 1) whose bytes happen to look like a query.
        let mut payload = vec![0x03];
        payload.extend_from_slice(b"COMMIT");
        assert_eq!(s.feed(&packet(1, &payload), Some("COMMIT")), None);
        // Still in step afterwards.
        assert_eq!(s.feed(&query("commit"), Some("COMMIT")), Some(11));
    }

    #[test]
    fn a_query_longer_than_one_packet_ends_with_its_last_packet() {
        let mut payload = vec![0x03];
        payload.extend_from_slice(b"COMMIT /*");
        payload.resize(MAX_PAYLOAD, b' ');
        let mut stream = packet(0, &payload);
        // The continuation packet would look like a COMMIT on its own.
        stream.extend(packet(1, b"*/"));
        let mut s = Scanner::default();
        assert_eq!(s.feed(&stream, Some("COMMIT")), Some(stream.len()));
        // A long SELECT whose continuation looks like a COMMIT is no COMMIT.
        payload[1..7].copy_from_slice(b"SELECT");
        let mut stream = packet(0, &payload);
        let mut tail = vec![0x03];
        tail.extend_from_slice(b"COMMIT");
        stream.extend(packet(1, &tail));
        let mut s = Scanner::default();
        assert_eq!(s.feed(&stream, Some("COMMIT")), None);
        assert_eq!(s.feed(&query("COMMIT"), Some("COMMIT")), Some(11));
    }
}
