//! The operator hold of `vrrpd demote`, kept on disk so that it survives a restart of the
//! daemon and a reboot: a node demoted for maintenance must not preempt back by surprise
//! when it comes up again.
//!
//! The file is `<state_directory>/demoted`, JSON `{"instances":["VI_1"]}`, written
//! atomically: a temporary file in the same directory is written and fsynced, renamed
//! over the old one, and the directory is fsynced, so a crash or power loss leaves either
//! the old list or the new one. No file means nothing is demoted.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name inside the state directory.
pub const DEMOTED_FILE: &str = "demoted";

#[derive(Debug, thiserror::Error)]
pub enum DemotedError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a valid demoted list ({reason})")]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemotedFile {
    instances: BTreeSet<String>,
}

/// What the file said at startup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// These instances are demoted (empty when there is no file).
    Instances(BTreeSet<String>),
    /// The file exists but cannot be read or understood. The safe reading for an operator
    /// who demoted a node for maintenance is "every instance stays demoted" (see
    /// docs/planned-maintenance.md); `vrrpd promote` rewrites the file.
    Unreadable(String),
}

/// The demoted list in a state directory.
#[derive(Clone, Debug)]
pub struct DemotedStore {
    directory: PathBuf,
}

impl DemotedStore {
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        DemotedStore {
            directory: directory.into(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.directory.join(DEMOTED_FILE)
    }

    /// Read the list. A missing file (or directory) means nothing is demoted.
    pub fn load(&self) -> Loaded {
        let path = self.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // No file, or a state directory that is not a directory (a file in its place,
            // a misconfigured path): no hold was ever saved there. Saving one will fail
            // with a clear error instead, and change nothing.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Loaded::Instances(BTreeSet::new());
            }
            Err(source) => {
                return Loaded::Unreadable(DemotedError::Read { path, source }.to_string());
            }
        };
        match serde_json::from_str::<DemotedFile>(&text) {
            Ok(file) => Loaded::Instances(file.instances),
            Err(error) => Loaded::Unreadable(
                DemotedError::Corrupt {
                    path,
                    reason: error.to_string(),
                }
                .to_string(),
            ),
        }
    }

    /// Replace the list atomically; an empty list removes the file.
    pub fn save(&self, instances: &BTreeSet<String>) -> Result<(), DemotedError> {
        let path = self.path();
        let write_error = |source| DemotedError::Write {
            path: path.clone(),
            source,
        };
        if instances.is_empty() {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(source) => return Err(write_error(source)),
            }
            return sync_directory(&self.directory).map_err(write_error);
        }
        if !self.directory.exists() {
            std::fs::create_dir_all(&self.directory).map_err(write_error)?;
            std::fs::set_permissions(&self.directory, std::fs::Permissions::from_mode(0o750))
                .map_err(write_error)?;
        }
        let mut text = serde_json::to_string(&DemotedFile {
            instances: instances.clone(),
        })
        .map_err(|error| write_error(io::Error::other(error)))?;
        text.push('\n');
        let temporary = self
            .directory
            .join(format!(".{DEMOTED_FILE}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            sync_directory(&self.directory)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.map_err(write_error)
    }
}

/// Make a rename or removal in `directory` durable.
fn sync_directory(directory: &Path) -> io::Result<()> {
    std::fs::File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vrrpd-demoted-{label}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn saves_loads_and_clears_atomically() {
        let dir = scratch("roundtrip");
        let store = DemotedStore::new(dir.join("state"));
        assert_eq!(store.load(), Loaded::Instances(BTreeSet::new()));
        let set: BTreeSet<String> = ["VI_1".to_owned(), "VI_2".to_owned()].into();
        store.save(&set).unwrap();
        assert_eq!(store.load(), Loaded::Instances(set));
        let mode = std::fs::metadata(dir.join("state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o750);
        // No temporary file is left next to it.
        let names: Vec<_> = std::fs::read_dir(dir.join("state"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(DEMOTED_FILE)]);
        store.save(&BTreeSet::new()).unwrap();
        assert!(!store.path().exists());
        assert_eq!(store.load(), Loaded::Instances(BTreeSet::new()));
        // Clearing an absent list is fine.
        store.save(&BTreeSet::new()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_reported_not_ignored() {
        let dir = scratch("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        let store = DemotedStore::new(&dir);
        std::fs::write(store.path(), "{\"instances\": [\"VI_1\"").unwrap();
        match store.load() {
            Loaded::Unreadable(message) => assert!(message.contains("demoted"), "{message}"),
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
