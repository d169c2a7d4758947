//! The published schema documents itself: a stable `$id`, a title and description on the
//! root, and a description on every property anywhere in it.

use serde_json::Value;
use vrrpd::config::{SCHEMA_ID, schema};

/// Every (JSON pointer, property schema) pair under any "properties" keyword.
fn properties(value: &Value, pointer: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_pointer =
                    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                if let ("properties", Value::Object(props)) = (key.as_str(), child) {
                    for (name, property) in props {
                        out.push((format!("{child_pointer}/{name}"), property.clone()));
                    }
                }
                properties(child, child_pointer, out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                properties(item, format!("{pointer}/{index}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_root_has_id_title_and_description() {
    let schema = schema();
    assert_eq!(schema["$id"], SCHEMA_ID);
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(schema["description"].as_str().is_some_and(|d| d.len() > 20));
}

#[test]
fn every_property_has_a_description() {
    let schema = schema();
    let mut found = Vec::new();
    properties(&schema, String::new(), &mut found);
    // $schema, instances, 16 instance keys, password, the tags and the version rules.
    assert!(found.len() >= 20, "only {} properties found", found.len());
    let undocumented: Vec<&String> = found
        .iter()
        .filter(|(_, property)| {
            property["description"]
                .as_str()
                .is_none_or(|d| d.trim().is_empty())
        })
        .map(|(pointer, _)| pointer)
        .collect();
    assert!(
        undocumented.is_empty(),
        "properties without a description: {undocumented:#?}"
    );
}

#[test]
fn every_instance_key_is_in_the_schema_and_the_docs() {
    let schema = schema();
    let keys = schema["$defs"]["InstanceConfig"]["properties"]
        .as_object()
        .expect("instance properties");
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .expect("docs/configuration.md");
    for key in keys.keys() {
        assert!(
            docs.contains(&format!("`{key}`")),
            "docs/configuration.md does not document `{key}`"
        );
    }
}

#[test]
fn descriptions_are_flowing_text() {
    // Doc comments are hard-wrapped; editors show descriptions as paragraphs.
    let mut found = Vec::new();
    properties(&schema(), String::new(), &mut found);
    for (pointer, property) in found {
        let description = property["description"].as_str().unwrap_or_default();
        assert!(
            !description.replace("\n\n", "").contains('\n'),
            "{pointer}: {description:?}"
        );
    }
}

#[test]
fn version_dependent_interval_ranges_are_in_the_schema() {
    let schema = schema();
    let rules = &schema["$defs"]["InstanceConfig"]["allOf"];
    assert_eq!(
        rules[0]["if"]["properties"]["version"]["enum"],
        serde_json::json!(["2", 2])
    );
    assert_eq!(
        rules[0]["then"]["properties"]["advert_interval_ms"]["multipleOf"],
        1000
    );
    assert_eq!(
        rules[0]["then"]["properties"]["advert_interval_ms"]["maximum"],
        255_000
    );
    assert_eq!(
        rules[1]["if"]["properties"]["version"]["enum"],
        serde_json::json!(["3", 3])
    );
    assert_eq!(
        rules[1]["then"]["properties"]["advert_interval_ms"]["multipleOf"],
        10
    );
    assert_eq!(
        rules[1]["then"]["properties"]["advert_interval_ms"]["maximum"],
        40_950
    );
}

#[test]
fn the_error_example_in_the_docs_is_real_output() {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .expect("docs/configuration.md");
    let text = r#"{
  "instances": [
    { "name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": "2",
      "priority": 150, "advert_interval_ms": 1500, "priorty": 1,
      "authentication": { "type": "pass", "password": "password1" },
      "virtual_addresses": ["192.168.0.40"] },
    { "name": "VI_6", "interface": "eth0", "virtual_router_id": 51,
      "priority": 100, "virtual_addresses": ["2001:db8::1"] }
  ]
}"#;
    let error = vrrpd::config::load_str(text, "/etc/vrrpd/vrrpd.json").expect_err("invalid");
    let shown = format!("```text\n{error}\n```");
    assert!(
        docs.contains(&shown),
        "update the example in docs/configuration.md to:\n{shown}"
    );
}
