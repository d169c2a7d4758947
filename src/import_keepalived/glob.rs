//! The small subset of glob(3) that keepalived's `include` accepts: `*`, `?`,
//! `[...]` classes (with `!`/`^` negation and ranges) and csh-style `{a,b}`
//! alternatives. Matching is per path component, hidden files match only a
//! pattern that starts with `.`, and each pattern's matches are sorted, as
//! glob(3) does.

use std::path::{Path, PathBuf};

/// True if `pattern` has any glob metacharacter (then a missing match is not an I/O error).
pub fn has_magic(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// Expands `pattern` (absolute, or relative to `base`) into existing files.
pub fn expand(pattern: &str, base: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for alternative in expand_braces(pattern) {
        let (mut candidates, rest) = match alternative.strip_prefix('/') {
            Some(rest) => (vec![PathBuf::from("/")], rest.to_owned()),
            None => (vec![base.to_path_buf()], alternative.clone()),
        };
        for component in rest.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            for dir in &candidates {
                if !has_magic(component) {
                    next.push(dir.join(component));
                    continue;
                }
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|name| !name.starts_with('.') || component.starts_with('.'))
                    .filter(|name| matches(component, name))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| dir.join(n)));
            }
            candidates = next;
        }
        found.extend(candidates.into_iter().filter(|p| p.is_file()));
    }
    Ok(found)
}

/// csh-style brace expansion: `a{b,c}d` → `abd`, `acd`; nests; an unmatched `{` is literal.
pub fn expand_braces(pattern: &str) -> Vec<String> {
    let bytes = pattern.as_bytes();
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_owned()];
    };
    let mut depth = 0usize;
    let mut splits = Vec::new();
    let mut close = None;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            b',' if depth == 1 => splits.push(i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![pattern.to_owned()];
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(&splits);
    bounds.push(close);
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let middle = &pattern[pair[0] + 1..pair[1]];
        out.extend(expand_braces(&format!("{head}{middle}{tail}")));
    }
    out
}

/// Whether one path component `name` matches the glob `pattern` (no `/` in either).
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    match_from(&pattern, &name)
}

/// Iterative matching with one backtracking point (the last `*`): linear in practice and
/// never exponential, whatever the pattern.
fn match_from(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    // After a `*`: where the pattern resumes, and the name position it was tried at.
    let mut last_star: Option<(usize, usize)> = None;
    while n < name.len() {
        if let Some(step) = single(&pattern[p..], name[n]) {
            p += step;
            n += 1;
            continue;
        }
        if pattern.get(p) == Some(&'*') {
            last_star = Some((p + 1, n));
            p += 1;
            continue;
        }
        match last_star {
            // Let the last `*` swallow one more character and retry.
            Some((resume, tried)) => {
                last_star = Some((resume, tried + 1));
                p = resume;
                n = tried + 1;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// If the pattern's next element (not `*`) matches `c`, how many pattern chars it spans.
fn single(pattern: &[char], c: char) -> Option<usize> {
    match pattern.first()? {
        '*' => None,
        '?' => Some(1),
        '[' => match class(pattern) {
            Some((set, len)) => set.contains(c).then_some(len),
            // An unterminated class is a literal '['.
            None => (c == '[').then_some(1),
        },
        '\\' if pattern.len() > 1 => (pattern[1] == c).then_some(2),
        &literal => (literal == c).then_some(1),
    }
}

struct CharClass {
    negated: bool,
    items: Vec<(char, char)>,
}

impl CharClass {
    fn contains(&self, c: char) -> bool {
        self.items.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

/// Parses the `[...]` at the start of `pattern`; returns the class and its length.
fn class(pattern: &[char]) -> Option<(CharClass, usize)> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    loop {
        let c = *pattern.get(i)?;
        if c == ']' && !first {
            return Some((CharClass { negated, items }, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|&h| h != ']') {
            items.push((c, pattern[i + 2]));
            i += 3;
        } else {
            items.push((c, c));
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_classes() {
        assert!(matches("*.conf", "vi_1.conf"));
        assert!(!matches("*.conf", "vi_1.conf.bak"));
        assert!(matches("vi_?.conf", "vi_2.conf"));
        assert!(!matches("vi_?.conf", "vi_22.conf"));
        assert!(matches("vi_[0-3].conf", "vi_3.conf"));
        assert!(!matches("vi_[!0-3].conf", "vi_3.conf"));
        assert!(matches("vi_[!0-3].conf", "vi_x.conf"));
        assert!(matches("a[]]b", "a]b"));
        assert!(matches("a[b", "a[b"));
        assert!(matches("*", ""));
        assert!(!matches("?", ""));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("*.conf", ".conf"));
        assert!(matches(r"a\*b", "a*b"));
        assert!(!matches(r"a\*b", "axb"));
        // Many stars on a long name that does not match: must not take exponential time.
        let name = "a".repeat(200);
        assert!(!matches("*a*a*a*a*a*a*a*a*b", &name));
    }

    #[test]
    fn braces_expand_in_order_and_nest() {
        assert_eq!(expand_braces("a{b,c}d"), ["abd", "acd"]);
        assert_eq!(
            expand_braces("{x,y{1,2}}.conf"),
            ["x.conf", "y1.conf", "y2.conf"]
        );
        assert_eq!(expand_braces("{,cat}s"), ["s", "cats"]);
        assert_eq!(expand_braces("open{only"), ["open{only"]);
    }
}
