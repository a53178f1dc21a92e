//! Placeholder: the Prometheus example (written next).
fn main() {}
