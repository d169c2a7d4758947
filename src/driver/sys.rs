//! What the shell reads from the kernel by hand: a raw system call's result as an
//! `io::Result`, and the "N kB" fields of /proc files. One place, so that every call the
//! shell makes through `libc` reports its failure the same way.

use std::io;

/// A system call's integer result: any negative value is a failure whose cause is errno
/// (read at once, before anything else can overwrite it); otherwise the value itself
/// (a descriptor, a count, or 0).
pub fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// The value of a /proc "N kB" field (`/proc/PID/status`, `/proc/PID/smaps`): the text
/// after the colon, in KiB. None when it is not a number of that form.
pub fn kib(value: &str) -> Option<u64> {
    value.trim().strip_suffix("kB")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_negative_result_is_errno_and_any_other_is_the_value() {
        assert_eq!(check(3).ok(), Some(3));
        assert_eq!(check(0).ok(), Some(0));
        // SAFETY: closing a descriptor that cannot be open (-1) only sets errno (EBADF).
        let failed = check(unsafe { libc::close(-1) });
        assert_eq!(
            failed.err().and_then(|error| error.raw_os_error()),
            Some(libc::EBADF)
        );
    }

    #[test]
    fn kib_reads_the_number_of_a_proc_field_and_nothing_else() {
        assert_eq!(kib("     1024 kB"), Some(1024));
        assert_eq!(kib("0 kB"), Some(0));
        assert_eq!(kib(" 12"), None);
        assert_eq!(kib(" twelve kB"), None);
        assert_eq!(kib(""), None);
    }
}
