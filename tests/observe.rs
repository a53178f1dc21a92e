//! The `mysql_lb.statement` span against real servers: its name, its OpenTelemetry fields,
//! the host it names, and the retry event inside it after a SIGKILL.
//!
//! A small capturing layer records every new span (name and fields, updated by `record`) and
//! every event with the span it happened in. Each test installs its own with
//! `tracing::subscriber::set_default` on a current-thread runtime, so the statements it makes
//! (which run on the test's thread) land in its own capture and nowhere else.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_lb::LoadBalancedConnection;
use mysql_lb_sandbox::Sandbox;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// One span as the layer saw it.
#[derive(Clone, Debug, Default)]
struct SpanRec {
    name: &'static str,
    fields: HashMap<String, String>,
    /// Messages of the events that happened inside it (directly).
    events: Vec<String>,
}

impl SpanRec {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Captured {
    spans: Vec<SpanRec>,
    /// Live span ids to their index in `spans` (the registry reuses ids once a span closes).
    live: HashMap<Id, usize>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Captured>>);

impl Capture {
    fn spans(&self) -> Vec<SpanRec> {
        self.0.lock().unwrap().spans.clone()
    }

    /// The `mysql_lb.statement` spans created since `from` (an index into all spans).
    fn statements_since(&self, from: usize) -> Vec<SpanRec> {
        self.spans()
            .into_iter()
            .skip(from)
            .filter(|s| s.name == "mysql_lb.statement")
            .collect()
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().spans.len()
    }
}

/// Field values as strings: `&str` unquoted, the rest through `Debug`.
struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let mut rec = SpanRec {
            name: attrs.metadata().name(),
            ..SpanRec::default()
        };
        attrs.record(&mut Fields(&mut rec.fields));
        let mut c = self.0.lock().unwrap();
        c.spans.push(rec);
        let at = c.spans.len() - 1;
        c.live.insert(id.clone(), at);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut c = self.0.lock().unwrap();
        if let Some(&at) = c.live.get(id) {
            values.record(&mut Fields(&mut c.spans[at].fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        let mut c = self.0.lock().unwrap();
        if let Some(&at) = c.live.get(&span.id()) {
            c.spans[at].events.push(message);
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        self.0.lock().unwrap().live.remove(&id);
    }
}

/// A capture installed for the current thread while the guard lives.
fn capture() -> (Capture, tracing::subscriber::DefaultGuard) {
    let cap = Capture::default();
    let subscriber = tracing_subscriber::registry().with(cap.clone());
    let guard = tracing::subscriber::set_default(subscriber);
    (cap, guard)
}

fn port_of(conn: &LoadBalancedConnection) -> u16 {
    conn.current_host().expect("a current host").port()
}

// Current-thread runtimes: the statements run on the thread the capture is installed on.
#[tokio::test(flavor = "current_thread")]
async fn a_statement_makes_one_span_with_the_otel_fields_of_its_host() {
    let sb = Sandbox::start(2).await.unwrap();
    on_all(&sb, "CREATE DATABASE obs").await;
    on_all(&sb, "CREATE TABLE obs.t (id INT)").await;
    let (cap, _guard) = capture();
    let mut conn = LoadBalancedConnection::connect(opts(&sb, ""))
        .await
        .unwrap();

    let from = cap.count();
    conn.query_drop("SELECT 1").await.unwrap();
    let port = port_of(&conn);
    let spans = cap.statements_since(from);
    assert_eq!(spans.len(), 1, "one span per statement: {spans:#?}");
    let s = &spans[0];
    assert_eq!(s.field("db.system"), Some("mysql"), "{s:#?}");
    assert_eq!(s.field("db.operation.name"), Some("SELECT"), "{s:#?}");
    assert_eq!(s.field("otel.name"), Some("SELECT"), "{s:#?}");
    assert_eq!(s.field("otel.kind"), Some("client"), "{s:#?}");
    assert_eq!(s.field("server.address"), Some("127.0.0.1"), "{s:#?}");
    assert_eq!(
        s.field("server.port"),
        Some(port.to_string().as_str()),
        "{s:#?}"
    );
    assert!([sb.port(0), sb.port(1)].contains(&port));
    // Never the statement's text.
    assert!(s.fields.values().all(|v| !v.contains("SELECT 1")), "{s:#?}");

    let from = cap.count();
    conn.query_drop("INSERT INTO obs.t VALUES (1)")
        .await
        .unwrap();
    let spans = cap.statements_since(from);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].field("db.operation.name"), Some("INSERT"));
    assert_eq!(spans[0].field("otel.name"), Some("INSERT"));
    assert_eq!(
        spans[0].field("server.port"),
        Some(port_of(&conn).to_string().as_str())
    );
    conn.disconnect().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_read_retried_after_sigkill_has_the_retry_event_and_names_the_new_host() {
    let sb = Sandbox::start(2).await.unwrap();
    let (cap, _guard) = capture();
    let mut conn = LoadBalancedConnection::connect(opts(&sb, "strategy=sequential"))
        .await
        .unwrap();
    conn.query_drop("SELECT 1").await.unwrap();
    let first = port_of(&conn);
    assert_eq!(first, sb.port(0), "sequential: the first host");
    sb.kill(0);

    let from = cap.count();
    conn.query_drop("SELECT 1").await.unwrap();
    let second = port_of(&conn);
    assert_eq!(second, sb.port(1));
    let spans = cap.statements_since(from);
    assert_eq!(
        spans.len(),
        1,
        "the retry is inside the one span: {spans:#?}"
    );
    let s = &spans[0];
    assert!(
        s.events.iter().any(|m| m == "read retried on another host"),
        "no retry event in the span: {s:#?}"
    );
    assert_eq!(s.field("server.address"), Some("127.0.0.1"), "{s:#?}");
    assert_eq!(
        s.field("server.port"),
        Some(second.to_string().as_str()),
        "the span names the host that served it in the end: {s:#?}"
    );
    conn.disconnect().await;
}
