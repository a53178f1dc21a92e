//! A small authoritative DNS server on 127.0.0.1 (UDP and TCP, one fresh port) for the
//! `mysql+srv://` tests, made with `hickory-server`: one zone, `test.`, held in memory, whose
//! SRV records a test replaces while clients run.
//!
//! Names `h0.test.` … `h9.test.` have A records 127.0.0.1, so a sandbox server `i` is the SRV
//! target `h{i}.test.` with the sandbox's port in the record. Records have TTL 0, so that a
//! resolver's cache never hides a change: what a test measures is the refresh interval.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{A, SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};

/// The SRV name the zone serves.
pub const SRV_NAME: &str = "_mysql._tcp.test.";

/// One SRV record: priority, weight, port, target (`h0.test.`).
pub type SrvRecord = (u16, u16, u16, String);

/// The running server; dropping it stops it.
pub struct DnsServer {
    addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler<TokioRuntimeProvider>>,
    serial: AtomicU32,
    server: Server<Catalog>,
}

fn name(s: &str) -> Name {
    Name::from_str(s).expect("a test name")
}

impl DnsServer {
    /// Starts the server with the zone `test.` and no SRV record yet.
    pub async fn start() -> DnsServer {
        let origin = name("test.");
        let zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            origin.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let soa = SOA::new(
            name("ns.test."),
            name("admin.test."),
            1,
            3600,
            600,
            86400,
            0,
        );
        zone.upsert(Record::from_rdata(origin.clone(), 0, RData::SOA(soa)), 1)
            .await;
        for i in 0..10 {
            let host = name(&format!("h{i}.test."));
            let a = RData::A(A::new(127, 0, 0, 1));
            zone.upsert(Record::from_rdata(host, 0, a), 1).await;
        }
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin), vec![zone.clone()]);

        let port = mysql_lb_sandbox::fresh_port().expect("a free port");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let udp = tokio::net::UdpSocket::bind(addr).await.expect("UDP bind");
        let tcp = tokio::net::TcpListener::bind(addr).await.expect("TCP bind");
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        DnsServer {
            addr,
            zone,
            serial: AtomicU32::new(1),
            server,
        }
    }

    /// `127.0.0.1:port`, for `dns_servers=`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the SRV records of [`SRV_NAME`] (an empty list removes them).
    pub async fn set_srv(&self, records: &[SrvRecord]) {
        let owner = name(SRV_NAME);
        let serial = self.serial.fetch_add(1, Ordering::SeqCst) + 1;
        self.zone
            .records_mut()
            .await
            .remove(&RrKey::new(LowerName::new(&owner), RecordType::SRV));
        for (priority, weight, port, target) in records {
            let srv = SRV::new(*priority, *weight, *port, name(target));
            self.zone
                .upsert(
                    Record::from_rdata(owner.clone(), 0, RData::SRV(srv)),
                    serial,
                )
                .await;
        }
    }

    /// Stops serving (the test's end does it too).
    pub async fn stop(mut self) {
        let _ =
            tokio::time::timeout(Duration::from_secs(5), self.server.shutdown_gracefully()).await;
    }
}

/// The SRV record for sandbox server `i` on `port`.
pub fn srv(priority: u16, weight: u16, port: u16, i: usize) -> SrvRecord {
    (priority, weight, port, format!("h{i}.test."))
}
