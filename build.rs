//! Link setting of the `vrrpd` binary: packed relative relocations (DT_RELR).
//!
//! A position-independent executable carries one 24-byte relocation per pointer in its
//! read-only data (vtables, string tables, …): about 16 000 of them, 380 KB that the
//! dynamic loader reads at every start and that then stay resident for the daemon's
//! lifetime. DT_RELR encodes the same relocations as a bitmap of a few kilobytes. ASLR
//! is unchanged.
//!
//! glibc's loader understands DT_RELR from 2.36 on, and the linker then records the
//! need for it (GLIBC_ABI_DT_RELR), so an older loader refuses the binary with a clear
//! message instead of running it wrongly. The flag is only passed when building natively
//! against glibc 2.36 or later: a build on an older system or a cross build links as
//! before.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    let host = env::var("HOST").unwrap_or_default();
    if target == host && target.ends_with("-linux-gnu") && host_glibc_supports_relr() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the glibc this build script runs on (the target's, in a native build) is
/// 2.36 or later.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn host_glibc_supports_relr() -> bool {
    unsafe extern "C" {
        /// glibc's version string, e.g. "2.36" (gnu_get_libc_version(3)).
        fn gnu_get_libc_version() -> *const std::ffi::c_char;
    }
    // SAFETY: returns a pointer to a static NUL-terminated string owned by glibc.
    let version = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
    let mut parts = version
        .to_str()
        .unwrap_or_default()
        .split('.')
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn host_glibc_supports_relr() -> bool {
    false
}
