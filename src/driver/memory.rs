//! Giving start-up's memory back once the daemon has started (and after each reload).
//!
//! Two kinds of page stay resident after start-up although the steady state never
//! touches them again:
//!
//! - **Heap** that parsing the config and the netlink dumps freed: glibc keeps freed
//!   pages; `malloc_trim` returns them.
//! - **Program text and read-only data** that only start-up ran or read: argument
//!   parsing, the config's deserialisation, the netlink dumps, socket set-up. The kernel
//!   maps a file's pages into a process in blocks around each touched page (its
//!   fault-around, 64 KiB by default), so start-up leaves most of the executable mapped.
//!   Dropping those mappings (`MADV_DONTNEED`) costs nothing but a minor fault when a
//!   page is touched again: the page itself stays in the page cache, and what the
//!   steady-state loop runs is mapped again within its first few adverts.
//!
//! Only mappings that hold nothing but file contents are dropped: file-backed, not
//! writable, and with no private (copied-on-write) page. The last rule leaves out the
//! relocated read-only data (RELRO), which the loader wrote before it sealed it: dropping
//! it would bring back the file's unrelocated bytes. Locked memory (`--lock-memory`) is
//! left alone: it was locked so that it stays.

use std::io;

use crate::driver::sys;

/// One malloc arena for the whole daemon: glibc gives each new thread an arena of its
/// own (up to eight per core), whose pages stay resident beside the main one's. The
/// daemon's two threads (driver::runtime) allocate little and rarely at the same time,
/// so sharing costs no waiting worth measuring.
pub fn share_one_heap() {
    // SAFETY: mallopt takes two integers; called before the second thread starts.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// What [`release_startup_memory`] dropped, for the log and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Mappings whose pages were dropped.
    pub mappings: usize,
    /// Their resident size before, in KiB (from smaps).
    pub resident_kib: u64,
}

/// Return freed heap to the kernel and drop the resident pages of read-only file
/// mappings (see the module documentation). Never fails the daemon: a mapping that
/// cannot be dropped is simply kept.
pub fn release_startup_memory(memory_locked: bool) -> Released {
    let released = if memory_locked {
        Released::default()
    } else {
        drop_file_pages()
    };
    // Last, so that it also returns what reading smaps allocated.
    // SAFETY: malloc_trim only walks glibc's own free lists; no pointers are passed.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
    released
}

fn drop_file_pages() -> Released {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return Released::default();
    };
    let mut released = Released::default();
    for mapping in droppable_mappings(&smaps) {
        if drop_pages(mapping.start, mapping.end).is_ok() {
            released.mappings += 1;
            released.resident_kib += mapping.resident_kib;
        }
    }
    released
}

/// A mapping of /proc/self/smaps that holds nothing but a file's contents.
#[derive(Debug, PartialEq, Eq)]
struct Droppable {
    start: usize,
    end: usize,
    resident_kib: u64,
}

/// The mappings of an smaps text that may be dropped: file-backed (a path, not
/// `[vdso]`, `[heap]` or anonymous), not writable, no page copied on write or swapped,
/// not locked, and resident at all.
fn droppable_mappings(smaps: &str) -> Vec<Droppable> {
    let mut found = Vec::new();
    let mut current: Option<(Droppable, bool)> = None;
    let mut finish = |entry: Option<(Droppable, bool)>| {
        if let Some((mapping, true)) = entry
            && mapping.resident_kib > 0
        {
            found.push(mapping);
        }
    };
    for line in smaps.lines() {
        if let Some(header) = mapping_header(line) {
            finish(current.take());
            current = Some(header);
            continue;
        }
        let Some((mapping, eligible)) = current.as_mut() else {
            continue;
        };
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let kib = || sys::kib(value);
        match key {
            "Rss" => mapping.resident_kib = kib().unwrap_or(0),
            // Pages of this mapping that are no longer the file's bytes (copied on write,
            // and perhaps swapped out since), or that were locked to stay. Not
            // Private_Dirty: it also counts page-cache pages not yet written back, as
            // those of a binary installed a moment ago, which are still the file's.
            "Anonymous" | "Locked" | "Swap" if kib() != Some(0) => *eligible = false,
            _ => {}
        }
    }
    finish(current.take());
    found
}

/// Parse a mapping's first line (`start-end perms offset dev inode path`); the bool says
/// whether its kind allows dropping (file-backed, not writable).
fn mapping_header(line: &str) -> Option<(Droppable, bool)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    // Only header lines have a four-letter permission field like "r-xp".
    if perms.len() != 4 || !perms.starts_with(['r', '-']) {
        return None;
    }
    let _offset = fields.next()?;
    let _device = fields.next()?;
    let _inode = fields.next()?;
    let path = fields.next().unwrap_or("");
    let eligible = path.starts_with('/') && !perms.contains('w') && perms.ends_with('p');
    Some((
        Droppable {
            start,
            end,
            resident_kib: 0,
        },
        eligible,
    ))
}

fn drop_pages(start: usize, end: usize) -> io::Result<()> {
    // SAFETY: the range is a whole mapping of this process that /proc/self/smaps listed as
    // file-backed, read-only and without private pages, so its contents are the file's and
    // come back unchanged on the next access; MADV_DONTNEED frees no memory that anything
    // else owns.
    sys::check(unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0100000 r--p 00000000 fd:01 42 /usr/bin/vrrpd
Size:               1024 kB
Rss:                 512 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
Swap:                  0 kB
Locked:                0 kB
55d0c0100000-55d0c0500000 r-xp 00100000 fd:01 42 /usr/bin/vrrpd
Size:               4096 kB
Rss:                3000 kB
Private_Dirty:       128 kB
Anonymous:             0 kB
Swap:                  0 kB
Locked:                0 kB
55d0c0500000-55d0c0540000 r--p 00500000 fd:01 42 /usr/bin/vrrpd
Size:                256 kB
Rss:                 256 kB
Private_Dirty:       256 kB
Anonymous:           256 kB
Swap:                  0 kB
Locked:                0 kB
55d0c0540000-55d0c0550000 rw-p 00540000 fd:01 42 /usr/bin/vrrpd
Size:                 64 kB
Rss:                  64 kB
Private_Dirty:        64 kB
Anonymous:            64 kB
Locked:                0 kB
55d0c1000000-55d0c1100000 rw-p 00000000 00:00 0 [heap]
Size:               1024 kB
Rss:                 172 kB
Anonymous:           172 kB
7f0000000000-7f0000010000 r-xp 00000000 fd:01 77 /usr/lib/libc.so.6
Size:                 64 kB
Rss:                  64 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
Locked:               64 kB
7f0000010000-7f0000020000 r-xp 00000000 fd:01 77 /usr/lib/libgcc_s.so.1
Size:                 64 kB
Rss:                   0 kB
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
Size:                  8 kB
Rss:                   8 kB
Anonymous:             0 kB
";

    /// The executable's text and read-only data go (also with page-cache pages not yet
    /// written back, counted as Private_Dirty); RELRO (copied on write), writable
    /// data, the heap, locked and unmapped mappings and the vDSO stay.
    #[test]
    fn only_read_only_file_contents_are_dropped() {
        let found = droppable_mappings(SMAPS);
        assert_eq!(
            found,
            vec![
                Droppable {
                    start: 0x55d0c0000000,
                    end: 0x55d0c0100000,
                    resident_kib: 512
                },
                Droppable {
                    start: 0x55d0c0100000,
                    end: 0x55d0c0500000,
                    resident_kib: 3000
                },
            ]
        );
    }

    /// In this very process: the dropped mappings' resident set shrinks, and the code
    /// and data in them still work when touched again (this test goes on running).
    #[test]
    fn dropped_mappings_shrink_and_still_work() {
        let resident = || -> u64 {
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
            droppable_mappings(&smaps)
                .iter()
                .map(|mapping| mapping.resident_kib)
                .sum()
        };
        let before = resident();
        let released = release_startup_memory(false);
        assert!(released.mappings > 0, "{released:?}");
        assert!(released.resident_kib > 0, "{released:?}");
        let after = resident();
        assert!(
            after < before,
            "resident {before} KiB before, {after} KiB after"
        );
        // Code and read-only data of the dropped mappings, touched again.
        let text = format!("{:?}", released);
        assert!(text.contains("mappings"));
    }
}
