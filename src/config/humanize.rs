//! Schema validation, with every error turned into a [`ConfigProblem`] an operator can act
//! on: the JSON pointer of the offending value and a plain sentence.
//!
//! jsonschema's own messages speak of keywords ("is not valid under any of the schemas
//! listed in the 'anyOf' keyword"); here each error kind gets words about the value, and
//! `anyOf`/`oneOf` failures are resolved to the alternative the operator evidently meant.

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::ConfigProblem;
use super::schema::{V2_INTERVAL_MS, V3_INTERVAL_MS};

/// The schema is a constant of the build (the committed text, see [`super::SCHEMA_TEXT`]):
/// parse it and compile the validator once.
static SCHEMA: LazyLock<Result<Value, String>> = LazyLock::new(|| {
    serde_json::from_str(super::SCHEMA_TEXT).map_err(|error| format!("not JSON: {error}"))
});
static VALIDATOR: LazyLock<Result<Validator, String>> = LazyLock::new(|| {
    let schema = SCHEMA.as_ref().map_err(Clone::clone)?;
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|error| error.to_string())
});

/// Every schema violation in `document`, in document order, without duplicates.
pub(super) fn schema_problems(document: &Value) -> Vec<ConfigProblem> {
    let validator = match &*VALIDATOR {
        Ok(validator) => validator,
        Err(error) => {
            return vec![ConfigProblem {
                pointer: String::new(),
                message: format!(
                    "internal error: vrrpd's built-in schema does not compile: {error}"
                ),
            }];
        }
    };
    let mut problems = Vec::new();
    for error in validator.iter_errors(document) {
        describe(&error, document, &mut problems);
    }
    one_per_pointer(problems)
}

/// JSON Schema counts 100.0 as an integer, serde's integer types do not. Every number in
/// the config is an integer, so any number written with a fraction or exponent is named
/// here, for the case where the schema passed and deserialization did not.
pub(super) fn non_integer_numbers(document: &Value) -> Vec<ConfigProblem> {
    fn walk(value: &Value, pointer: String, out: &mut Vec<ConfigProblem>) {
        match value {
            Value::Number(number) if number.is_f64() => out.push(ConfigProblem {
                message: match number.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                        format!("write {number} as the whole number {f:.0}")
                    }
                    _ => format!("expected a whole number, found {number}"),
                },
                pointer,
            }),
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    walk(item, format!("{pointer}/{index}"), out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    walk(
                        item,
                        format!("{pointer}/{}", escape_pointer_token(key)),
                        out,
                    );
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(document, String::new(), &mut out);
    out
}

/// What one schema error says, before problems of the same value are merged.
enum Finding {
    Problem(ConfigProblem),
    /// A required key is absent from the object at `pointer`.
    MissingKey {
        pointer: String,
        key: String,
    },
}

impl Finding {
    fn problem(pointer: String, message: String) -> Finding {
        Finding::Problem(ConfigProblem { pointer, message })
    }
}

/// One value, one problem: a value that breaks several keywords (empty *and* not matching
/// the pattern; too small *and* not a multiple) is reported by the first, which is enough
/// to fix it. The missing keys of one object are named together, since each needs adding.
fn one_per_pointer(findings: Vec<Finding>) -> Vec<ConfigProblem> {
    struct Slot {
        pointer: String,
        first_message: Option<String>,
        missing_keys: Vec<String>,
    }
    // One slot per pointer, in the order pointers first appear.
    let mut slots: Vec<Slot> = Vec::new();
    for finding in findings {
        let (pointer, message, missing_key) = match finding {
            Finding::Problem(problem) => (problem.pointer, Some(problem.message), None),
            Finding::MissingKey { pointer, key } => (pointer, None, Some(key)),
        };
        let index = match slots.iter().position(|slot| slot.pointer == pointer) {
            Some(index) => index,
            None => {
                slots.push(Slot {
                    pointer,
                    first_message: None,
                    missing_keys: Vec::new(),
                });
                slots.len() - 1
            }
        };
        let slot = &mut slots[index];
        if slot.first_message.is_none() {
            slot.first_message = message;
        }
        if let Some(key) = missing_key.filter(|key| !slot.missing_keys.contains(key)) {
            slot.missing_keys.push(key);
        }
    }
    slots
        .into_iter()
        .filter_map(|slot| {
            let message = match (slot.missing_keys.as_slice(), slot.first_message) {
                ([one], _) => format!("the required key {one} is missing"),
                ([init @ .., last], _) => format!(
                    "the required keys {} and {last} are missing",
                    init.join(", ")
                ),
                ([], Some(message)) => message,
                ([], None) => return None,
            };
            Some(ConfigProblem {
                pointer: slot.pointer,
                message,
            })
        })
        .collect()
}

fn describe(error: &ValidationError<'_>, document: &Value, out: &mut Vec<Finding>) {
    let pointer = error.instance_path().as_str().to_owned();
    let value = error.instance().as_ref();
    let shown = show(value);
    let message = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let known = known_keys(error);
            for key in unexpected {
                out.push(Finding::problem(
                    format!("{pointer}/{}", escape_pointer_token(key)),
                    unknown_key_message(key, &known),
                ));
            }
            return;
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            describe_alternatives(error, context, document, out);
            return;
        }
        ValidationErrorKind::Required { property } => {
            out.push(Finding::MissingKey {
                pointer,
                key: property.to_string(),
            });
            return;
        }
        ValidationErrorKind::Type { kind } => {
            format!(
                "expected {}, found {}",
                expected_types(kind),
                kind_of(value)
            )
        }
        ValidationErrorKind::Enum { options } => {
            format!("{shown} is not one of {}", list_values(options))
        }
        ValidationErrorKind::Constant { expected_value } => {
            constant_message(&pointer, value, expected_value)
        }
        ValidationErrorKind::Maximum { limit } => {
            format!(
                "{shown} is greater than the maximum of {limit}{}",
                interval_hint(&pointer, document)
            )
        }
        ValidationErrorKind::Minimum { limit } => {
            format!(
                "{shown} is less than the minimum of {limit}{}",
                interval_hint(&pointer, document)
            )
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("{shown} must be less than {limit}")
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("{shown} must be greater than {limit}")
        }
        ValidationErrorKind::MultipleOf { multiple_of } => {
            // The schema's steps are whole numbers; print 1000, not 1000.0.
            let step = if multiple_of.fract() == 0.0 {
                format!("{multiple_of:.0}")
            } else {
                multiple_of.to_string()
            };
            format!(
                "{shown} is not a multiple of {step}{}",
                interval_hint(&pointer, document)
            )
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!(
                "{shown} is longer than {limit} {}",
                plural(*limit, "character")
            )
        }
        ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".to_owned(),
        ValidationErrorKind::MinLength { limit } => {
            format!("{shown} is shorter than {limit} characters")
        }
        ValidationErrorKind::MinItems { limit } => min_items_message(&pointer, *limit),
        ValidationErrorKind::MaxItems { limit } => {
            format!("has more than {limit} {}", plural(*limit, "entry"))
        }
        ValidationErrorKind::Format { format } => {
            format!("{shown} is not a valid {}", format_name(format))
        }
        ValidationErrorKind::Pattern { .. } => pattern_message(&pointer, &shown),
        ValidationErrorKind::UniqueItems => "lists the same value more than once".to_owned(),
        ValidationErrorKind::FalseSchema => "is not allowed here".to_owned(),
        _ => error.to_string(),
    };
    out.push(Finding::problem(pointer, message));
}

/// `anyOf`/`oneOf`: find what the operator meant and report only that alternative's
/// problems, or name the choices.
fn describe_alternatives(
    error: &ValidationError<'_>,
    branches: &[Vec<ValidationError<'static>>],
    document: &Value,
    out: &mut Vec<Finding>,
) {
    let pointer = error.instance_path().as_str().to_owned();
    let value = error.instance().as_ref();
    // A branch whose discriminator (a `const` below this value, like `type` of a tagged
    // enum) fails describes another variant than the one written.
    let is_discriminator_miss = |e: &ValidationError<'_>| {
        matches!(e.kind(), ValidationErrorKind::Constant { .. })
            && e.instance_path().as_str() != pointer
    };
    let mut plausible: Vec<&Vec<ValidationError<'static>>> = branches
        .iter()
        .filter(|branch| !branch.iter().any(is_discriminator_miss))
        .collect();
    // A branch that wants another type for this very value (an object where a string was
    // written, as a virtual address may be either) describes another form than the one
    // written: leave it out when a branch of the written type remains.
    let is_form_miss = |e: &ValidationError<'_>| {
        matches!(e.kind(), ValidationErrorKind::Type { .. })
            && e.instance_path().as_str() == pointer
    };
    if plausible
        .iter()
        .any(|branch| !branch.iter().any(is_form_miss))
    {
        plausible.retain(|branch| !branch.iter().any(is_form_miss));
    }

    if plausible.is_empty() {
        // No variant's tag matched: list the tags.
        let mut tags = Vec::new();
        let mut tag_pointer = pointer.clone();
        for error in branches
            .iter()
            .flatten()
            .filter(|e| is_discriminator_miss(e))
        {
            if let ValidationErrorKind::Constant { expected_value } = error.kind() {
                tag_pointer = error.instance_path().as_str().to_owned();
                if !tags.contains(&**expected_value) {
                    tags.push((**expected_value).clone());
                }
            }
        }
        let written = document
            .pointer(&tag_pointer)
            .map_or_else(|| "the value".to_owned(), show);
        out.push(Finding::problem(
            tag_pointer,
            format!(
                "{written} is not one of {}",
                list_values(&Value::Array(tags))
            ),
        ));
        return;
    }
    if let [only] = plausible.as_slice() {
        for error in only.iter() {
            describe(error, document, out);
        }
        return;
    }
    let all_errors = || plausible.iter().flat_map(|branch| branch.iter());
    if all_errors().all(|e| matches!(e.kind(), ValidationErrorKind::Constant { .. })) {
        // A unit-variant enum: a `const` per variant.
        let choices: Vec<Value> = all_errors()
            .filter_map(|e| match e.kind() {
                ValidationErrorKind::Constant { expected_value } => {
                    Some((**expected_value).clone())
                }
                _ => None,
            })
            .collect();
        out.push(Finding::problem(
            pointer,
            format!(
                "{} is not one of {}",
                show(value),
                list_values(&Value::Array(choices))
            ),
        ));
        return;
    }
    if all_errors().all(|e| matches!(e.kind(), ValidationErrorKind::Type { .. })) {
        // The same wrong type for every alternative: say it once.
        if let Some(first) = all_errors().next() {
            describe(first, document, out);
        }
        return;
    }
    let is_address_form = |e: &ValidationError<'_>| {
        matches!(
            e.kind(),
            ValidationErrorKind::Format { .. } | ValidationErrorKind::Pattern { .. }
        )
    };
    if all_errors().all(is_address_form) {
        let with_prefix =
            all_errors().any(|e| matches!(e.kind(), ValidationErrorKind::Pattern { .. }));
        let message = if with_prefix {
            format!(
                "{} is not an IPv4 or IPv6 address with an optional prefix length (like \"192.0.2.40\" or \"192.0.2.40/24\")",
                show(value)
            )
        } else {
            format!("{} is not an IPv4 or IPv6 address", show(value))
        };
        out.push(Finding::problem(pointer, message));
        return;
    }
    // Otherwise report the alternative that came closest: the one with the fewest problems.
    if let Some(closest) = plausible.iter().min_by_key(|branch| branch.len()) {
        for error in closest.iter() {
            describe(error, document, out);
        }
    }
}

/// The keys an object with an unknown key may have, read from the schema.
fn known_keys(error: &ValidationError<'_>) -> Vec<String> {
    let Some(location) = error.absolute_keyword_location() else {
        return Vec::new();
    };
    let Some(fragment) = location.fragment() else {
        return Vec::new();
    };
    let fragment = percent_decode(fragment.as_str());
    // ".../additionalProperties" → the object schema that lists "properties".
    let Some(parent) = fragment
        .rsplit_once('/')
        .map(|(parent, _)| parent.to_owned())
    else {
        return Vec::new();
    };
    let Ok(schema) = &*SCHEMA else {
        return Vec::new();
    };
    schema
        .pointer(&parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unknown_key_message(key: &str, known: &[String]) -> String {
    let closest = known
        .iter()
        .map(|candidate| (edit_distance(key, candidate), candidate))
        .filter(|(distance, _)| *distance <= 2.max(key.len() / 4))
        .min_by_key(|(distance, _)| *distance);
    match closest {
        Some((_, candidate)) => format!("unknown key {key:?}; did you mean {candidate:?}?"),
        None if known.is_empty() => format!("unknown key {key:?}"),
        None => format!(
            "unknown key {key:?}; the keys here are {}",
            known.join(", ")
        ),
    }
}

/// Levenshtein distance, for "did you mean" on misspelt keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// RFC 6901 §3: '~' and '/' inside a key are written "~0" and "~1".
fn escape_pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn last_token(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap_or("")
}

/// The version of the instance that `pointer` (…/instances/N/key) lies in.
fn instance_version(pointer: &str, document: &Value) -> Option<String> {
    let (instance, _) = pointer.rsplit_once('/')?;
    match document.pointer(instance)?.get("version") {
        None => Some("3".to_owned()),
        Some(other) => Some(other.to_string()),
    }
}

/// The interval range depends on the version: say which one applies.
fn interval_hint(pointer: &str, document: &Value) -> String {
    if last_token(pointer) != "advert_interval_ms" {
        return String::new();
    }
    match instance_version(pointer, document).as_deref() {
        Some("2") => {
            let (min, max, _) = V2_INTERVAL_MS;
            format!(" (VRRPv2 advertises whole seconds: {min} to {max} ms in steps of 1000)")
        }
        _ => {
            let (min, max, _) = V3_INTERVAL_MS;
            format!(" (VRRPv3 advertises centiseconds: {min} to {max} ms in steps of 10)")
        }
    }
}

fn constant_message(pointer: &str, value: &Value, expected: &Value) -> String {
    if pointer.ends_with("/authentication/type") {
        return format!(
            "{} authentication needs version \"2\": VRRPv3 has no authentication (RFC 5798 §9)",
            show(value)
        );
    }
    format!("{} must be {}", show(value), show(expected))
}

fn min_items_message(pointer: &str, limit: u64) -> String {
    match last_token(pointer) {
        "virtual_addresses" => format!(
            "needs at least {limit} virtual {}",
            plural(limit, "address")
        ),
        "instances" => format!("needs at least {limit} {}", plural(limit, "instance")),
        _ => format!("needs at least {limit} {}", plural(limit, "entry")),
    }
}

fn pattern_message(pointer: &str, shown: &str) -> String {
    match last_token(pointer) {
        "interface" => format!(
            "{shown} is not a valid interface name: it may not contain '/', ':' or whitespace"
        ),
        "name" => {
            format!("{shown} is not a valid instance name: it may not contain '/' or whitespace")
        }
        _ => format!("{shown} does not have the expected form"),
    }
}

fn format_name(format: &str) -> &str {
    match format {
        "ipv4" => "IPv4 address",
        "ipv6" => "IPv6 address",
        other => other,
    }
}

fn expected_types(kind: &TypeKind) -> String {
    let names: Vec<String> = match kind {
        TypeKind::Single(t) => vec![article(&t.to_string())],
        TypeKind::Multiple(set) => set.iter().map(|t| article(&t.to_string())).collect(),
    };
    names.join(" or ")
}

fn article(type_name: &str) -> String {
    match type_name {
        "null" => "null".to_owned(),
        "array" | "object" | "integer" => format!("an {type_name}"),
        other => format!("a {other}"),
    }
}

fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) if n.is_f64() => format!("the fractional number {n}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => format!("the string {}", show(value)),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// A value as JSON, shortened when long.
fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 60 {
        return text;
    }
    let short: String = text.chars().take(57).collect();
    format!("{short}...")
}

fn list_values(options: &Value) -> String {
    let shown: Vec<String> = match options {
        Value::Array(values) => values.iter().map(show).collect(),
        other => vec![show(other)],
    };
    match shown.as_slice() {
        [] => "nothing".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn plural(count: u64, word: &str) -> String {
    match (count, word) {
        (1, _) => word.to_owned(),
        (_, "address") => "addresses".to_owned(),
        (_, "entry") => "entries".to_owned(),
        _ => format!("{word}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("priority", "priority"), 0);
        assert_eq!(edit_distance("priorty", "priority"), 1);
        assert_eq!(edit_distance("prio", "priority"), 4);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(escape_pointer_token("a/b~c"), "a~1b~0c");
    }

    #[test]
    fn percent_decoding_restores_dollar_signs() {
        assert_eq!(
            percent_decode("/%24defs/InstanceConfig"),
            "/$defs/InstanceConfig"
        );
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn values_are_listed_in_words() {
        assert_eq!(
            list_values(&serde_json::json!(["a", "b", "c"])),
            r#""a", "b" or "c""#
        );
        assert_eq!(list_values(&serde_json::json!([1])), "1");
    }
}
