//! `mysql_lb`: a driver-side load balancer for MySQL and MariaDB on top of `mysql_async`.

#![warn(missing_docs)]

#[cfg(feature = "sandbox")]
pub mod sandbox;
