//! `vrrpd import-keepalived`: keepalived.conf → vrrpd JSON (see docs/migrating-from-keepalived.md).
