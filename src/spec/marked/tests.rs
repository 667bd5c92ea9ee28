use super::*;
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Inner {
    check: String,
    #[serde(default)]
    n: Option<u32>,
}

#[derive(Deserialize, Debug)]
struct Outer {
    items: Vec<Inner>,
}

#[test]
fn unknown_key_has_position_path_and_suggestion() {
    let node = parse("items:\n  - check: a\n  - chekc: b\n").unwrap();
    let err = from_node::<Outer>(&node).unwrap_err();
    assert_eq!(err.path.as_deref(), Some("items[1].chekc"));
    assert_eq!(err.pos, Some(Pos { line: 3, col: 5 }));
    assert!(
        err.message.contains("did you mean \"check\""),
        "{}",
        err.message
    );
}

#[test]
fn type_error_points_at_value() {
    let node = parse("items:\n  - check: a\n    n: many\n").unwrap();
    let err = from_node::<Outer>(&node).unwrap_err();
    assert_eq!(err.path.as_deref(), Some("items[0].n"));
    assert_eq!(err.pos, Some(Pos { line: 3, col: 8 }));
}

#[test]
fn missing_key_names_full_path() {
    let node = parse("items:\n  - n: 1\n").unwrap();
    let err = from_node::<Outer>(&node).unwrap_err();
    assert_eq!(err.path.as_deref(), Some("items[0].check"));
    assert_eq!(err.pos, Some(Pos { line: 2, col: 5 }));
}

#[test]
fn locate_finds_nested_nodes() {
    let node = parse("a:\n  b:\n    - x\n    - y\n").unwrap();
    assert_eq!(node.locate("a.b[1]"), Pos { line: 4, col: 7 });
    assert_eq!(node.locate("a.missing"), Pos { line: 1, col: 1 });
    assert_eq!(node.locate("a.b[7]"), Pos { line: 2, col: 3 });
}

#[test]
fn alias_bombs_and_deep_nesting_are_refused_quickly() {
    let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..9u8 {
        let (name, prev) = ((b'a' + i) as char, (b'a' + i - 1) as char);
        let refs = vec![format!("*{prev}"); 10].join(",");
        bomb += &format!("{name}: &{name} [{refs}]\n");
    }
    let start = std::time::Instant::now();
    let err = parse(&bomb).unwrap_err();
    assert!(err.message.contains("alias bomb"), "{}", err.message);
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let err = parse(&deep).unwrap_err();
    assert!(
        err.message.contains("deep") || err.message.contains("recursion limit"),
        "{}",
        err.message
    );
}

#[test]
fn anchors_and_aliases_resolve() {
    let node = parse("base: &b {check: x}\nitems: [*b]\n").unwrap();
    let out = from_node::<Outer>(&Node::Map(
        vec![(
            Node::Scalar {
                value: "items".into(),
                quoted: false,
                pos: Pos::default(),
            },
            node.get("items").unwrap().clone(),
        )],
        Pos::default(),
    ))
    .unwrap();
    assert_eq!(out.items[0].check, "x");
}
