//! Network-namespace labs (root): used by `vrrpd demo` and the integration tests.
