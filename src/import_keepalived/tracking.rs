//! keepalived's trackers and notify scripts → vrrpd `trackers`, `track` and `notify`.
//!
//! keepalived 2.2 semantics reproduced here (from its source, keepalived/vrrp/vrrp_parser.c,
//! vrrp_track.c, trackers/track_file.c, core/notify.c):
//! - `vrrp_script`: `interval` default 1 s, whole seconds in keepalived 2.2.7; `timeout`
//!   default 0, which means "the interval"; `rise`/`fall` default 1; `weight` default 0, in -253..=253; a script that
//!   is tracked by no instance is removed ("script X is not used").
//! - `track_script`/`track_interface` entries: `NAME [weight W [reverse]]`, W in
//!   -254..=254 where ±254 becomes ±253; an invalid weight falls back to the default.
//! - `vrrp_track_file`/`track_file`: `weight` default **1**, value × weight.
//! - Weight 0 means FAULT while failing; W > 0 is added while healthy, W < 0 while failing
//!   — exactly vrrpd's `track` semantics. `reverse` flips which outcome counts, which vrrpd
//!   cannot express: reported unsupported.
//! - An address owner (priority 255), and a member of a sync group without
//!   `sync_group_tracking_weight`, ignore weighted trackers (interfaces become weight 0,
//!   scripts are dropped, files with weight 1 become weight 0, other files are dropped).
//! - Script strings: the quoted string after the keyword is split again into an argv by
//!   quotes and whitespace and run with execve (no shell), the program searched in PATH;
//!   words after the string are not part of the command (for notify scripts they are
//!   `USER [GROUP]`). A first word starting with `<` or `>` is run by `/bin/sh`.

use std::collections::{BTreeMap, BTreeSet};

use super::syntax::{Loc, Statement, Word};
use super::{Importer, Severity};
use crate::config::{CheckConfig, NotifyConfig, TrackRef, TrackerConfig};

/// A `vrrp_script` block, as keepalived leaves it after parsing.
#[derive(Clone, Debug)]
pub(super) struct ScriptDef {
    loc: Loc,
    command: Vec<String>,
    shell: bool,
    interval_ms: u32,
    timeout_ms: Option<u32>,
    weight: i32,
    reverse: Option<Loc>,
    rise: u32,
    fall: u32,
    user: Option<String>,
}

/// A `vrrp_track_file` / `track_file` block.
#[derive(Clone, Debug)]
pub(super) struct FileDef {
    loc: Loc,
    path: String,
    weight: i32,
    reverse: Option<Loc>,
}

/// A `vrrp_track_process` block, as the process check it becomes.
#[derive(Clone, Debug)]
pub(super) struct ProcessDef {
    loc: Loc,
    check: CheckConfig,
    weight: i32,
    reverse: Option<Loc>,
}

/// The top-level definitions instances refer to, read before any instance (keepalived
/// resolves references after the whole file is read).
#[derive(Default)]
pub(super) struct Definitions {
    scripts: BTreeMap<String, ScriptDef>,
    files: BTreeMap<String, FileDef>,
    processes: BTreeMap<String, ProcessDef>,
    used_processes: BTreeSet<String>,
    /// global_defs `script_user`: the default user of vrrp_scripts.
    script_user: Option<(String, Loc)>,
    used_scripts: BTreeSet<String>,
    used_files: BTreeSet<String>,
    /// The vrrpd trackers built so far (shared between instances that track the same).
    pub(super) trackers: Vec<TrackerConfig>,
    /// Sync group membership: instance name → the group has `sync_group_tracking_weight`.
    pub(super) sync_members: BTreeMap<String, bool>,
}

/// One instance's tracked object before keepalived's owner/sync-group fix-ups.
#[derive(Clone, Debug)]
pub(super) struct TrackDraft {
    loc: Loc,
    keyword: &'static str,
    tracker: TrackerConfig,
    weight: i32,
    /// Where `reverse` was set (unsupported).
    reverse: Option<Loc>,
    kind: TrackKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TrackKind {
    Interface,
    Script,
    File,
    Process,
}

/// The notify scripts of one instance.
#[derive(Default)]
pub(super) struct NotifyDraft {
    config: NotifyConfig,
    first: Option<Loc>,
    /// `notify_priority_changes` was given: keepalived then also runs the `notify` script
    /// when the priority changes.
    priority_changes: Option<Loc>,
}

impl Importer {
    /// First pass over the top level: `vrrp_script`, `vrrp_track_file`/`track_file`, the
    /// sync groups' members and global `script_user`.
    pub(super) fn collect_definitions(&mut self, tree: &[Statement]) {
        // script_user applies to every vrrp_script, wherever global_defs is.
        for statement in tree.iter().filter(|s| s.name() == "global_defs") {
            for item in statement.block.as_deref().unwrap_or_default() {
                if item.name() == "script_user"
                    && let Some(user) = item.args.first()
                {
                    self.defs.script_user = Some((user.text.clone(), item.keyword.loc.clone()));
                }
            }
        }
        for statement in tree {
            match statement.name() {
                "vrrp_script" => self.vrrp_script(statement),
                "vrrp_track_file" | "track_file" => self.vrrp_track_file(statement),
                "vrrp_track_process" => self.vrrp_track_process(statement),
                "vrrp_sync_group" => {
                    let items = statement.block.as_deref().unwrap_or_default();
                    let tracking_weight = items
                        .iter()
                        .any(|i| i.name() == "sync_group_tracking_weight");
                    for group in items.iter().filter(|i| i.name() == "group") {
                        for member in group.block.as_deref().unwrap_or_default() {
                            self.defs
                                .sync_members
                                .insert(member.keyword.text.clone(), tracking_weight);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// global_defs `script_user USER [GROUP]`: the default user of the imported exec
    /// trackers. (Read in [`Importer::collect_definitions`]; reported here.)
    pub(super) fn script_user(&mut self, statement: &Statement) {
        self.no_block(statement);
        match statement.args.len() {
            0 => self.report(statement, Severity::Error, "needs a user name"),
            1 => self.report(
                statement,
                Severity::Note,
                "imported as the `user` of every exec tracker (vrrp_script) without its own; \
                 vrrpd runs notify programs as its own user",
            ),
            _ => self.report(
                statement,
                Severity::Unsupported,
                "vrrpd runs a check with the user's primary group: a separate group is not supported",
            ),
        }
    }

    /// `vrrp_script NAME { script ...; interval; timeout; weight [reverse]; rise; fall;
    /// user; init_fail }`.
    fn vrrp_script(&mut self, statement: &Statement) {
        let Some(name) = statement.args.first() else {
            self.report(statement, Severity::Error, "needs a name");
            return;
        };
        self.extra_args(statement, 1);
        let mut command = None;
        let mut has_script = false;
        let mut interval_ms = 1000;
        let mut timeout_ms = None;
        let mut weight = 0;
        let mut reverse = None;
        let (mut rise, mut fall) = (1, 1);
        let mut user = self.defs.script_user.as_ref().map(|(u, _)| u.clone());
        for item in self.block(statement) {
            match item.name() {
                "script" => {
                    has_script = true;
                    self.no_block(item);
                    // keepalived reads only the first word (quote the whole command).
                    self.extra_args(item, 1);
                    match item.args.first() {
                        Some(word) => command = self.script_argv(item.name(), word),
                        None => self.report(item, Severity::Error, "needs a command"),
                    }
                }
                "interval" => {
                    if let Some(ms) = self.script_time(item, 100) {
                        interval_ms = ms;
                    }
                }
                "timeout" => {
                    if let Some(ms) = self.script_time(item, 10) {
                        timeout_ms = Some(ms);
                    }
                }
                "weight" => {
                    self.no_block(item);
                    let Some(word) = item.args.first() else {
                        self.report(item, Severity::Error, "needs a value");
                        continue;
                    };
                    match word.text.parse::<i32>() {
                        Ok(w) if (-253..=253).contains(&w) => weight = w,
                        _ => self.push(
                            &word.loc,
                            "weight",
                            Severity::Error,
                            format!(
                                "{:?} is not in -253..=253 (keepalived rejects it)",
                                word.text
                            ),
                        ),
                    }
                    match item.args.get(1).map(|w| w.text.as_str()) {
                        None => {}
                        Some("reverse") => reverse = Some(item.keyword.loc.clone()),
                        Some(other) => self.report(
                            item,
                            Severity::Warning,
                            format!("keepalived ignores the unknown weight option {other:?}; so does the importer"),
                        ),
                    }
                    self.extra_args(item, 2);
                }
                "rise" | "fall" => {
                    let Some(word) = self.one_arg(item) else {
                        continue;
                    };
                    let value = match word.text.parse::<u32>() {
                        Ok(0) | Err(_) => {
                            self.report(
                                item,
                                Severity::Warning,
                                format!("{:?} is not a positive whole number: keepalived uses 1, and so does the importer", word.text),
                            );
                            1
                        }
                        Ok(n) if n > 100 => {
                            self.report(
                                item,
                                Severity::Unsupported,
                                format!("vrrpd's {} is 1 to 100, not {n}", item.name()),
                            );
                            100
                        }
                        Ok(n) => n,
                    };
                    if item.name() == "rise" {
                        rise = value;
                    } else {
                        fall = value;
                    }
                }
                "user" => {
                    self.no_block(item);
                    match item.args.len() {
                        0 => self.report(item, Severity::Error, "needs a user name"),
                        1 => user = Some(item.args[0].text.clone()),
                        _ => {
                            user = Some(item.args[0].text.clone());
                            self.report(
                                item,
                                Severity::Unsupported,
                                "vrrpd runs a check with the user's primary group: a separate group is not supported",
                            );
                        }
                    }
                }
                "init_fail" => {
                    self.flag(item);
                    self.report(
                        item,
                        Severity::Warning,
                        "vrrpd has no initial failed state: a tracker counts as healthy until its \
                         first result, which then decides at once (the first check runs at start)",
                    );
                }
                _ => self.unknown(item, "in vrrp_script"),
            }
        }
        let Some((command, shell)) = command else {
            if has_script {
                // Already reported (unsupported or invalid): the script cannot be imported.
                return;
            }
            self.report(
                statement,
                Severity::Warning,
                "no `script`: keepalived removes this vrrp_script (\"No script set\"); not imported",
            );
            return;
        };
        self.defs.scripts.insert(
            name.text.clone(),
            ScriptDef {
                loc: statement.keyword.loc.clone(),
                command,
                shell,
                interval_ms,
                timeout_ms,
                weight,
                reverse,
                rise,
                fall,
                user,
            },
        );
    }

    /// A vrrp_script `interval`/`timeout` in milliseconds. keepalived 2.2.7 reads whole
    /// seconds with strtoul: "1.5" is read as 1 (with a warning in its log), and 0 — so
    /// also "0.5" — becomes 1 s. (2.2.8 and later accept fractions.)
    fn script_time(&mut self, statement: &Statement, min_ms: u32) -> Option<u32> {
        let word = self.one_arg(statement)?;
        let digits: String = word.text.chars().take_while(char::is_ascii_digit).collect();
        let Ok(mut seconds) = digits.parse::<u32>() else {
            self.push(
                &word.loc,
                statement.name(),
                Severity::Error,
                format!("expected a whole number of seconds, not {:?}", word.text),
            );
            return None;
        };
        if digits.len() != word.text.len() {
            self.report(
                statement,
                Severity::Warning,
                format!(
                    "keepalived 2.2.7 reads whole seconds here: {:?} is read as {seconds} \
                     (fractions need keepalived 2.2.8); imported as keepalived 2.2.7 runs it",
                    word.text
                ),
            );
        }
        if seconds == 0 {
            self.report(
                statement,
                Severity::Warning,
                "keepalived uses 1 s for 0 (\"must be greater than 0, setting to 1\"); so does the importer",
            );
            seconds = 1;
        }
        let ms = seconds.saturating_mul(1000);
        if !(min_ms..=3_600_000).contains(&ms) {
            self.report(
                statement,
                Severity::Unsupported,
                format!(
                    "vrrpd's {} is {min_ms} ms to 1 hour, not {seconds} s",
                    statement.name()
                ),
            );
            return None;
        }
        Some(ms)
    }

    /// keepalived's second split of a script string into argv (quotes group, whitespace
    /// separates), and whether it needs `/bin/sh` (a first word starting with `<` or `>`).
    fn script_argv(&mut self, keyword: &str, word: &Word) -> Option<(Vec<String>, bool)> {
        if word.escaped || word.text.contains('\\') {
            self.push(
                &word.loc,
                keyword,
                Severity::Unsupported,
                "backslash escapes in a script string are not converted (keepalived applies them \
                 in a second pass the importer does not reproduce): write the command by hand",
            );
            return None;
        }
        let argv = match split_script(&word.text) {
            Ok(argv) if !argv.is_empty() => argv,
            Ok(_) => {
                self.push(&word.loc, keyword, Severity::Error, "the command is empty");
                return None;
            }
            Err(quote) => {
                self.push(
                    &word.loc,
                    keyword,
                    Severity::Error,
                    format!("missing terminating {quote} (keepalived ignores the script)"),
                );
                return None;
            }
        };
        if argv[0].starts_with(['<', '>']) {
            self.push(
                &word.loc,
                keyword,
                Severity::Warning,
                "keepalived runs a command starting with a redirection through /bin/sh; imported \
                 with `shell: true`. `</dev/tcp/...` works only where /bin/sh is bash: a `tcp` \
                 tracker does the same without a shell",
            );
            let mut parts = vec![argv[0].clone()];
            parts.extend(argv[1..].iter().map(|arg| shell_quote(arg)));
            return Some((parts, true));
        }
        Some((argv, false))
    }

    /// `vrrp_track_file NAME { file PATH; weight W [reverse]; init_file [VALUE] [overwrite] }`.
    /// `weight W [reverse]` in a vrrp_track_file or vrrp_track_process block: a value
    /// outside -254..=254 is ignored (the default 1 stays), as keepalived does.
    fn definition_weight(&mut self, item: &Statement, weight: &mut i32, reverse: &mut Option<Loc>) {
        self.no_block(item);
        let Some(word) = item.args.first() else {
            self.report(item, Severity::Error, "needs a value");
            return;
        };
        match word.text.parse::<i32>() {
            Ok(w) if (-254..=254).contains(&w) => *weight = w,
            _ => self.push(
                &word.loc,
                "weight",
                Severity::Warning,
                format!("{:?} is not in -254..=254: keepalived ignores it and uses 1, and so does the importer", word.text),
            ),
        }
        match item.args.get(1).map(|w| w.text.as_str()) {
            None => {}
            Some("reverse") => *reverse = Some(item.keyword.loc.clone()),
            Some(other) => self.report(
                item,
                Severity::Warning,
                format!(
                    "keepalived ignores the unknown weight option {other:?}; so does the importer"
                ),
            ),
        }
        self.extra_args(item, 2);
    }

    /// `vrrp_track_process NAME { process PROC [PARAMS...]; param_match; quorum; weight;
    /// full_command; delay... }` → a `process` check (keepalived matches the process name,
    /// /proc/PID/status's Name:, unless parameters or full_command make it the command line).
    fn vrrp_track_process(&mut self, statement: &Statement) {
        let Some(name) = statement.args.first() else {
            self.report(statement, Severity::Error, "needs a name");
            return;
        };
        self.extra_args(statement, 1);
        let mut process: Option<(Vec<String>, Loc)> = None;
        let mut param_match = None;
        let mut full_command = false;
        let mut min_count = 1;
        let mut weight = 1;
        let mut reverse = None;
        let mut supported = true;
        for item in self.block(statement) {
            match item.name() {
                "process" => {
                    self.no_block(item);
                    if item.args.is_empty() {
                        self.report(item, Severity::Error, "needs a process");
                    } else {
                        let words = item.args.iter().map(|w| w.text.clone()).collect();
                        process = Some((words, item.keyword.loc.clone()));
                    }
                }
                "param_match" => match self.one_arg(item).map(|w| w.text.clone()).as_deref() {
                    Some("partial") => param_match = Some("partial"),
                    Some("initial") => {
                        supported = false;
                        self.report(
                            item,
                            Severity::Unsupported,
                            "`param_match initial` (the last parameter may be longer) is not \
                             supported: vrrpd compares every argument exactly",
                        );
                    }
                    _ => {}
                },
                "full_command" => {
                    self.flag(item);
                    full_command = true;
                }
                "quorum" => {
                    if let Some(word) = self.one_arg(item) {
                        match word.text.parse::<u32>() {
                            Ok(n) if (1..=65535).contains(&n) => min_count = n,
                            _ => {
                                supported = false;
                                self.report(
                                    item,
                                    Severity::Unsupported,
                                    format!(
                                        "quorum {:?}: vrrpd needs 1 to 65535 processes",
                                        word.text
                                    ),
                                );
                            }
                        }
                    }
                }
                "quorum_max" => {
                    supported = false;
                    self.report(
                        item,
                        Severity::Unsupported,
                        "vrrpd has no maximum number of processes",
                    );
                }
                "delay" | "fork_delay" | "terminate_delay" => self.report(
                    item,
                    Severity::Note,
                    "not imported: vrrpd counts the processes at every check (interval_ms, 1 s) \
                     and filters with rise/fall instead",
                ),
                "weight" => self.definition_weight(item, &mut weight, &mut reverse),
                _ => self.unknown(item, "in vrrp_track_process"),
            }
        }
        let Some((words, process_loc)) = process else {
            self.report(
                statement,
                Severity::Warning,
                "no `process`: keepalived drops this tracked process; not imported",
            );
            return;
        };
        if !supported {
            return;
        }
        let check = if words.len() == 1 && !full_command {
            // keepalived compares /proc/PID/status's Name:, the 15-character comm.
            if words[0].len() > 15 {
                self.push(
                    &process_loc,
                    "process",
                    Severity::Unsupported,
                    format!(
                        "{:?} is longer than the 15 characters of a process name: give the \
                         command line's first argument instead (a `process` tracker's argv_prefix)",
                        words[0]
                    ),
                );
                return;
            }
            CheckConfig::Process {
                name: Some(words[0].clone()),
                argv_prefix: None,
                min_count,
            }
        } else {
            if param_match != Some("partial") {
                self.push(
                    &process_loc,
                    "process",
                    Severity::Warning,
                    "keepalived matches the whole command line; vrrpd matches these arguments \
                     as its start, so a command line with more arguments matches too",
                );
            }
            CheckConfig::Process {
                name: None,
                argv_prefix: Some(words),
                min_count,
            }
        };
        self.defs.processes.insert(
            name.text.clone(),
            ProcessDef {
                loc: statement.keyword.loc.clone(),
                check,
                weight,
                reverse,
            },
        );
    }

    fn vrrp_track_file(&mut self, statement: &Statement) {
        let Some(name) = statement.args.first() else {
            self.report(statement, Severity::Error, "needs a name");
            return;
        };
        self.extra_args(statement, 1);
        let mut path = None;
        let mut weight = 1;
        let mut reverse = None;
        for item in self.block(statement) {
            match item.name() {
                "file" => path = self.one_arg(item).map(|w| w.text.clone()),
                "weight" => self.definition_weight(item, &mut weight, &mut reverse),
                "init_file" => {
                    self.no_block(item);
                    let value = item
                        .args
                        .iter()
                        .find(|w| w.text.starts_with(|c: char| c.is_ascii_digit() || c == '-'))
                        .map_or(Some(0), |w| w.text.parse::<i64>().ok());
                    let overwrite = item.args.iter().any(|w| w.text == "overwrite");
                    if value == Some(0) && !overwrite {
                        self.report(
                            item,
                            Severity::Note,
                            "keepalived creates a missing file holding 0; vrrpd leaves it missing, \
                             which reads as 0 too: the same priority",
                        );
                    } else {
                        self.report(
                            item,
                            Severity::Unsupported,
                            "vrrpd does not create or overwrite tracked files: create the file with \
                             its initial value before vrrpd starts (e.g. ExecStartPre=)",
                        );
                    }
                }
                _ => self.unknown(item, "in vrrp_track_file"),
            }
        }
        let Some(path) = path else {
            self.report(
                statement,
                Severity::Warning,
                "no `file`: keepalived drops this tracked file; not imported",
            );
            return;
        };
        self.defs.files.insert(
            name.text.clone(),
            FileDef {
                loc: statement.keyword.loc.clone(),
                path,
                weight,
                reverse,
            },
        );
    }

    /// An instance's `track_interface`, `track_script` or `track_file` block.
    pub(super) fn instance_tracking(
        &mut self,
        statement: &Statement,
        tracks: &mut Vec<TrackDraft>,
    ) {
        self.extra_args(statement, 0);
        let keyword = match statement.name() {
            "track_interface" => "track_interface",
            "track_script" => "track_script",
            "track_process" => "track_process",
            _ => "track_file",
        };
        for item in self.block(statement) {
            self.no_block(item);
            let name = &item.keyword.text;
            let (kind, tracker, default_weight, default_reverse) = match keyword {
                "track_interface" => (
                    TrackKind::Interface,
                    TrackerConfig {
                        name: format!("interface-{name}"),
                        check: CheckConfig::Interface {
                            interface: name.clone(),
                        },
                        // keepalived learns link changes from netlink at once; vrrpd polls.
                        interval_ms: 100,
                        timeout_ms: 1000,
                        rise: 1,
                        fall: 1,
                    },
                    0,
                    None,
                ),
                "track_script" => {
                    let Some(script) = self.defs.scripts.get(name).cloned() else {
                        self.report(
                            item,
                            Severity::Warning,
                            "no such vrrp_script (or it was dropped): keepalived ignores this entry \
                             (\"track script not found\"); not imported",
                        );
                        continue;
                    };
                    self.defs.used_scripts.insert(name.clone());
                    (
                        TrackKind::Script,
                        TrackerConfig {
                            name: name.clone(),
                            check: CheckConfig::Exec {
                                command: script.command.clone(),
                                shell: script.shell,
                                user: script.user.clone(),
                            },
                            interval_ms: script.interval_ms,
                            // keepalived: no timeout means the interval.
                            timeout_ms: script.timeout_ms.unwrap_or(script.interval_ms),
                            rise: script.rise,
                            fall: script.fall,
                        },
                        script.weight,
                        script.reverse.clone(),
                    )
                }
                "track_process" => {
                    let Some(process) = self.defs.processes.get(name).cloned() else {
                        self.report(
                            item,
                            Severity::Warning,
                            "no such vrrp_track_process (or it was not imported): keepalived \
                             ignores this entry; not imported",
                        );
                        continue;
                    };
                    self.defs.used_processes.insert(name.clone());
                    (
                        TrackKind::Process,
                        TrackerConfig {
                            name: format!("process-{name}"),
                            check: process.check.clone(),
                            // keepalived follows process events; vrrpd counts every second.
                            interval_ms: 1000,
                            timeout_ms: 1000,
                            rise: 1,
                            fall: 1,
                        },
                        process.weight,
                        process.reverse.clone(),
                    )
                }
                _ => {
                    let Some(file) = self.defs.files.get(name).cloned() else {
                        self.report(
                            item,
                            Severity::Warning,
                            "no such vrrp_track_file: keepalived ignores this entry (\"track file \
                             not found\"); not imported",
                        );
                        continue;
                    };
                    self.defs.used_files.insert(name.clone());
                    (
                        TrackKind::File,
                        TrackerConfig {
                            name: format!("file-{name}"),
                            check: CheckConfig::File {
                                path: file.path.clone(),
                            },
                            // keepalived watches the file with inotify; vrrpd polls.
                            interval_ms: 100,
                            timeout_ms: 1000,
                            rise: 1,
                            fall: 1,
                        },
                        file.weight,
                        file.reverse.clone(),
                    )
                }
            };
            if tracks
                .iter()
                .any(|t| t.kind == kind && t.tracker.check == tracker.check)
            {
                self.report(
                    item,
                    Severity::Warning,
                    "tracked twice: keepalived ignores the duplicate; so does the importer",
                );
                continue;
            }
            let mut weight = default_weight;
            let mut reverse = default_reverse;
            if let Some(option) = item.args.first() {
                if option.text != "weight" {
                    self.report(
                        item,
                        Severity::Warning,
                        format!(
                            "keepalived ignores this entry (unknown option {:?}); so does the importer",
                            option.text
                        ),
                    );
                    continue;
                }
                match item.args.get(1).map(|w| (w, w.text.parse::<i32>())) {
                    None => {
                        self.report(
                            item,
                            Severity::Warning,
                            "weight without a value: keepalived ignores this entry; so does the importer",
                        );
                        continue;
                    }
                    Some((_, Ok(w))) if (-254..=254).contains(&w) => {
                        weight = w;
                        // keepalived turns ±254 into ±253, except for tracked files.
                        if w.abs() == 254 && kind != TrackKind::File {
                            weight = w.signum() * 253;
                            self.push(
                                &item.keyword.loc,
                                "weight",
                                Severity::Warning,
                                format!(
                                    "keepalived uses weight {weight} for {w}; so does the importer"
                                ),
                            );
                        }
                    }
                    Some((word, _)) => {
                        self.push(
                            &word.loc,
                            "weight",
                            Severity::Warning,
                            format!(
                                "{:?} is not in -254..=254: keepalived ignores it and uses {default_weight}; so does the importer",
                                word.text
                            ),
                        );
                    }
                }
                match item.args.get(2).map(|w| w.text.as_str()) {
                    None => {}
                    Some("reverse") => reverse = Some(item.keyword.loc.clone()),
                    Some("noreverse") if kind != TrackKind::Interface => reverse = None,
                    Some(other) => self.report(
                        item,
                        Severity::Warning,
                        format!("keepalived ignores the unknown weight option {other:?}; so does the importer"),
                    ),
                }
                self.extra_args(item, 3);
            }
            tracks.push(TrackDraft {
                loc: item.keyword.loc.clone(),
                keyword,
                tracker,
                weight,
                reverse,
                kind,
            });
        }
    }

    /// `notify_priority_changes` (a flag): the `notify` script also runs on priority
    /// changes, which is vrrpd's `notify.priority_change` with the same program.
    pub(super) fn instance_notify_priority_changes(
        &mut self,
        statement: &Statement,
        notify: &mut NotifyDraft,
    ) {
        self.no_block(statement);
        self.extra_args(statement, 0);
        notify.priority_changes = Some(statement.keyword.loc.clone());
    }

    /// `notify_master|backup|fault|stop|notify "COMMAND" [USER [GROUP]]`.
    pub(super) fn instance_notify(&mut self, statement: &Statement, notify: &mut NotifyDraft) {
        self.no_block(statement);
        let Some(word) = statement.args.first() else {
            self.report(statement, Severity::Error, "needs a command");
            return;
        };
        let slot = match statement.name() {
            "notify_master" => &mut notify.config.master,
            "notify_backup" => &mut notify.config.backup,
            "notify_fault" => &mut notify.config.fault,
            "notify_stop" => &mut notify.config.stop,
            _ => &mut notify.config.generic,
        };
        if slot.is_some() {
            self.report(
                statement,
                Severity::Warning,
                "already set: keepalived ignores this one (\"script already specified\"); so does the importer",
            );
            return;
        }
        let Some((argv, shell)) = self.script_argv(statement.name(), word) else {
            return;
        };
        if shell {
            self.report(
                statement,
                Severity::Unsupported,
                "vrrpd runs notify programs without a shell: wrap the command in a script",
            );
            return;
        }
        if statement.args.len() > 1 {
            self.report(
                statement,
                Severity::Unsupported,
                "vrrpd runs notify programs as its own user: a per-script user/group is not supported",
            );
            return;
        }
        let slot = match statement.name() {
            "notify_master" => &mut notify.config.master,
            "notify_backup" => &mut notify.config.backup,
            "notify_fault" => &mut notify.config.fault,
            "notify_stop" => &mut notify.config.stop,
            _ => &mut notify.config.generic,
        };
        *slot = Some(argv);
        if notify.first.is_none() {
            notify.first = Some(statement.keyword.loc.clone());
            self.report(
                statement,
                Severity::Note,
                "keepalived runs notify scripts concurrently and without a time limit; vrrpd runs \
                 an instance's hooks one at a time, in order, and kills one after `notify.timeout_s` \
                 (30 s)",
            );
        }
        if let Some((user, loc)) = self.defs.script_user.clone() {
            self.push(
                &loc,
                "script_user",
                Severity::Unsupported,
                format!(
                    "keepalived runs {} as {user}; vrrpd runs notify programs as its own user",
                    statement.name()
                ),
            );
        }
    }

    /// Applies keepalived's fix-ups for an address owner and for sync-group members, and
    /// registers the trackers. Returns the instance's `track` and `notify`.
    pub(super) fn finish_tracking(
        &mut self,
        instance: &str,
        priority: u8,
        interface: &str,
        tracks: Vec<TrackDraft>,
        notify: NotifyDraft,
    ) -> (Vec<TrackRef>, Option<NotifyConfig>) {
        let sync_without_weights = self.defs.sync_members.get(instance) == Some(&false);
        let owner = priority == 255;
        let mut refs = Vec::new();
        for mut track in tracks {
            if matches!(&track.tracker.check, CheckConfig::Interface { interface: tracked } if tracked == interface)
            {
                self.push(&track.loc, track.keyword, Severity::Note, format!("{interface} is the instance's own interface, which vrrpd always follows (FAULT while it is down, whatever the weight, as in keepalived); not imported as a tracker"));
                continue;
            }
            if (owner || sync_without_weights) && track.weight != 0 {
                let why = if sync_without_weights {
                    "in a sync group without sync_group_tracking_weight"
                } else {
                    "on an address owner (priority 255)"
                };
                let keep_as_fault = match track.kind {
                    TrackKind::Interface => sync_without_weights,
                    TrackKind::Script | TrackKind::Process => false,
                    TrackKind::File => track.weight == 1,
                };
                if keep_as_fault {
                    self.push(&track.loc, track.keyword, Severity::Warning, format!("keepalived ignores the weight {why}: imported with weight 0 (FAULT while failing), as keepalived does"));
                    track.weight = 0;
                } else {
                    self.push(&track.loc, track.keyword, Severity::Warning, format!("keepalived ignores a weighted tracker {why}; not imported, as in keepalived"));
                    continue;
                }
            }
            if let Some(loc) = &track.reverse {
                self.push(loc, track.keyword, Severity::Unsupported, "`reverse` (the weight applies on the opposite outcome) is not supported by vrrpd");
                continue;
            }
            let name = self.register_tracker(track.tracker);
            refs.push(TrackRef {
                tracker: name,
                weight: track.weight,
            });
        }
        let mut notify = notify;
        if let Some(loc) = notify.priority_changes.take() {
            match notify.config.generic.clone() {
                Some(argv) => notify.config.priority_change = Some(argv),
                None => self.push(
                    &loc,
                    "notify_priority_changes",
                    Severity::Note,
                    "keepalived reports priority changes to the `notify` script (and its FIFO); \
                     this instance has no `notify` script, so there is nothing to run"
                        .to_owned(),
                ),
            }
        }
        let notify = notify.first.map(|_| notify.config);
        (refs, notify)
    }

    /// Adds a tracker (once: instances tracking the same object share it) and returns its
    /// name, made unique if another tracker already uses it.
    fn register_tracker(&mut self, tracker: TrackerConfig) -> String {
        if let Some(same) = self.defs.trackers.iter().find(|t| **t == tracker) {
            return same.name.clone();
        }
        // vrrpd's tracker names: letters, digits, '.', '_', '-', at most 64.
        let base: String = tracker
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(56)
            .collect();
        let mut name = base.clone();
        let mut n = 2;
        while self.defs.trackers.iter().any(|t| t.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        self.defs.trackers.push(TrackerConfig {
            name: name.clone(),
            ..tracker
        });
        name
    }

    /// keepalived removes a vrrp_script no instance tracks; says so for each.
    pub(super) fn report_unused_scripts(&mut self) {
        let unused: Vec<(String, Loc)> = self
            .defs
            .scripts
            .iter()
            .filter(|(name, _)| !self.defs.used_scripts.contains(*name))
            .map(|(name, def)| (name.clone(), def.loc.clone()))
            .collect();
        for (name, loc) in unused {
            self.push(
                &loc,
                "vrrp_script",
                Severity::Note,
                format!("{name} is tracked by no imported instance: keepalived removes it (\"script is not used\"); not imported"),
            );
        }
        let files: Vec<(String, Loc)> = self
            .defs
            .files
            .iter()
            .filter(|(name, _)| !self.defs.used_files.contains(*name))
            .map(|(name, def)| (name.clone(), def.loc.clone()))
            .collect();
        for (name, loc) in files {
            self.push(
                &loc,
                "vrrp_track_file",
                Severity::Note,
                format!("{name} is tracked by no imported instance; not imported"),
            );
        }
        let processes: Vec<(String, Loc)> = self
            .defs
            .processes
            .iter()
            .filter(|(name, _)| !self.defs.used_processes.contains(*name))
            .map(|(name, def)| (name.clone(), def.loc.clone()))
            .collect();
        for (name, loc) in processes {
            self.push(
                &loc,
                "vrrp_track_process",
                Severity::Note,
                format!("{name} is tracked by no imported instance; not imported"),
            );
        }
    }
}

/// Splits like keepalived's second pass over a script string: whitespace separates words,
/// `"..."` and `'...'` group (adjacent pieces join). Err(the open quote) if unterminated.
fn split_script(text: &str) -> Result<Vec<String>, char> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        None => return Err(c),
                        Some(q) if q == c => break,
                        Some(other) => current.push(other),
                    }
                }
            }
            c if c.is_ascii_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Quotes a word for /bin/sh unless it is made of characters the shell leaves alone.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_strings_split_like_keepalived() {
        assert_eq!(
            split_script("/usr/bin/curl -fsS 'http://127.0.0.1/ a' x\"y z\"").unwrap(),
            ["/usr/bin/curl", "-fsS", "http://127.0.0.1/ a", "xy z"]
        );
        assert_eq!(
            split_script("  killall  -0\thaproxy ").unwrap(),
            ["killall", "-0", "haproxy"]
        );
        assert_eq!(split_script("a ''").unwrap(), ["a", ""]);
        assert_eq!(split_script("a 'b"), Err('\''));
    }

    #[test]
    fn shell_quoting_leaves_plain_words_alone() {
        assert_eq!(shell_quote("/dev/null"), "/dev/null");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
