//! Real MariaDB servers for tests and the demo (placeholder, being written).
