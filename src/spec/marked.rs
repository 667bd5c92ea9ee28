//! A YAML tree that remembers where every node came from, and a serde
//! deserializer over it. Errors carry the key path and the line and column of
//! the offending node, and unknown keys are refused with a did-you-mean, which
//! a plain `serde_yaml::from_str` cannot do.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn from_span(span: Span) -> Pos {
        Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Node {
    Null(Pos),
    Scalar {
        value: String,
        quoted: bool,
        pos: Pos,
    },
    Seq(Vec<Node>, Pos),
    Map(Vec<(Node, Node)>, Pos),
}

impl Node {
    pub fn pos(&self) -> Pos {
        match self {
            Node::Null(p) | Node::Seq(_, p) | Node::Map(_, p) => *p,
            Node::Scalar { pos, .. } => *pos,
        }
    }

    pub fn as_key(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries, _) => entries
                .iter()
                .find(|(k, _)| k.as_key() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at a dotted path such as `metric.degenerate_gates[1].check`,
    /// or the deepest existing ancestor when the path runs out.
    pub fn locate(&self, path: &str) -> Pos {
        let mut node = self;
        let mut key_pos = None;
        for segment in path_segments(path) {
            let next = match segment {
                Segment::Key(k) => match node {
                    Node::Map(entries, _) => entries
                        .iter()
                        .find(|(key, _)| key.as_key() == Some(k))
                        .map(|(key, value)| (Some(key.pos()), value)),
                    _ => None,
                },
                Segment::Index(i) => match node {
                    Node::Seq(items, _) => items.get(i).map(|n| (None, n)),
                    _ => None,
                },
            };
            match next {
                Some((k, n)) => {
                    key_pos = k.or(key_pos);
                    node = n;
                }
                // A missing key is reported at the key of the mapping that lacks it.
                None => return key_pos.unwrap_or_else(|| node.pos()),
            }
        }
        node.pos()
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn path_segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        for index in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Segment::Index(i));
            }
        }
    }
    out
}

/// Parses YAML text into a marked tree. An empty document is `Null`.
pub fn parse(text: &str) -> Result<Node, DeError> {
    parse_bounded(text, MAX_NODES)
}

/// Where the node at `path` (`experiments[3].iteration`) is in a YAML
/// document other than a spec (an experiment log, an approvals file), if it
/// parses within bounds.
pub fn position_of(text: &str, path: &str) -> Option<Pos> {
    parse_bounded(text, 50_000_000).ok().map(|n| n.locate(path))
}

/// [`parse`] for documents that may be larger than a spec (an experiment
/// log), still bounded.
pub fn parse_bounded(text: &str, max_nodes: usize) -> Result<Node, DeError> {
    let mut builder = Builder {
        max_nodes,
        ..Builder::default()
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| DeError {
            message: format!("invalid YAML: {}", e.info()),
            pos: Some(Pos {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            }),
            path: None,
        })?;
        builder.event(event, span)?;
    }
    Ok(builder.root.unwrap_or(Node::Null(Pos { line: 1, col: 1 })))
}

/// Nodes a document may expand to, aliases included. A spec has hundreds;
/// nine levels of ten aliases each (a "billion laughs" of 1 KB) would be a
/// billion.
const MAX_NODES: usize = 100_000;
/// Collections nested in one another, at most.
const MAX_DEPTH: usize = 128;

#[derive(Default)]
struct Builder {
    stack: Vec<(Node, Option<Node>, usize)>,
    /// Each anchored node with its size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    documents: usize,
    nodes: usize,
    max_nodes: usize,
}

impl Node {
    /// How many nodes this one is, its descendants included.
    fn size(&self) -> usize {
        match self {
            Node::Null(_) | Node::Scalar { .. } => 1,
            Node::Seq(items, _) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Node::Map(entries, _) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.size() + v.size())
                    .sum::<usize>()
            }
        }
    }
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), DeError> {
        let pos = Pos::from_span(span);
        if matches!(
            event,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)
        ) {
            self.grow(1, pos)?;
        }
        if self.stack.len() > MAX_DEPTH {
            return Err(DeError::at(
                pos,
                format!("the YAML nests collections more than {MAX_DEPTH} deep"),
            ));
        }
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(DeError::at(
                        pos,
                        "expected a single YAML document, found more",
                    ));
                }
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let node = if !quoted && is_null(&value) {
                    Node::Null(pos)
                } else {
                    Node::Scalar {
                        value: value.into_owned(),
                        quoted,
                        pos,
                    }
                };
                self.push(node, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push((Node::Seq(Vec::new(), pos), None, anchor))
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push((Node::Map(Vec::new(), pos), None, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _, anchor)) = self.stack.pop() {
                    self.push(node, anchor);
                }
            }
            Event::Alias(id) => {
                let size = self
                    .anchors
                    .get(&id)
                    .map(|(_, size)| *size)
                    .ok_or_else(|| DeError::at(pos, "alias refers to an unknown anchor"))?;
                self.grow(size, pos)?;
                let node = self.anchors[&id].0.clone();
                self.push(node, 0);
            }
            _ => {}
        }
        Ok(())
    }

    /// Counts `more` nodes, refusing a document that expands past the bound.
    fn grow(&mut self, more: usize, pos: Pos) -> Result<(), DeError> {
        self.nodes = self.nodes.saturating_add(more);
        if self.nodes > self.max_nodes {
            return Err(DeError::at(
                pos,
                format!(
                    "the YAML expands to more than {} nodes through its aliases; refused (an alias bomb?)",
                    self.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let size = node.size();
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some((Node::Seq(items, _), _, _)) => items.push(node),
            Some((Node::Map(entries, _), pending, _)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
            Some(_) => unreachable!("only collections are pushed on the stack"),
        }
    }
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// A deserialization error with the place it happened.
#[derive(Debug, Clone)]
pub struct DeError {
    pub message: String,
    pub pos: Option<Pos>,
    pub path: Option<String>,
}

impl DeError {
    pub fn at(pos: Pos, message: impl Into<String>) -> DeError {
        DeError {
            message: message.into(),
            pos: Some(pos),
            path: None,
        }
    }

    fn located(mut self, pos: Pos, path: &str) -> DeError {
        if self.pos.is_none() {
            self.pos = Some(pos);
        }
        if self.path.is_none() && !path.is_empty() {
            self.path = Some(path.to_string());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            pos: None,
            path: None,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        DeError {
            message: format!("missing required key `{field}`"),
            pos: None,
            path: None,
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut message = format!(
            "unknown value \"{variant}\"; expected one of {}",
            expected.join(", ")
        );
        if let Some(s) = did_you_mean(variant, expected) {
            message.push_str(&format!(" (did you mean \"{s}\"?)"));
        }
        DeError {
            message,
            pos: None,
            path: None,
        }
    }
}

/// The closest candidate within a small edit distance.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Deserializes `T` from a marked node, refusing unknown keys; the first
/// problem found.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &Node) -> Result<T, DeError> {
    from_node_all(node).map_err(|mut all| all.remove(0))
}

/// Deserializes `T` from a marked node; every unknown key is reported (not
/// only the first), with the first other problem.
pub fn from_node_all<'de, T: de::Deserialize<'de>>(node: &Node) -> Result<T, Vec<DeError>> {
    let unknown = RefCell::new(Vec::new());
    let result = T::deserialize(NodeDe {
        node,
        path: String::new(),
        unknown: &unknown,
    });
    let mut problems = unknown.into_inner();
    match result {
        Ok(value) if problems.is_empty() => Ok(value),
        Ok(_) => Err(problems),
        Err(e) => {
            problems.push(e);
            Err(problems)
        }
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
    /// Unknown keys found so far: reported together at the end.
    unknown: &'a RefCell<Vec<DeError>>,
}

impl<'a> NodeDe<'a> {
    fn child(&self, node: &'a Node, segment: &str) -> NodeDe<'a> {
        let path = if segment.starts_with('[') || self.path.is_empty() {
            format!("{}{segment}", self.path)
        } else {
            format!("{}.{segment}", self.path)
        };
        NodeDe {
            node,
            path,
            unknown: self.unknown,
        }
    }

    fn wrap<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.located(self.node.pos(), &self.path))
    }

    fn describe(&self) -> &'static str {
        match self.node {
            Node::Null(_) => "nothing (null)",
            Node::Scalar { .. } => "a scalar",
            Node::Seq(..) => "a list",
            Node::Map(..) => "a mapping",
        }
    }

    fn expected(&self, what: &str) -> DeError {
        DeError::at(
            self.node.pos(),
            format!("expected {what}, found {}", self.describe()),
        )
        .located(self.node.pos(), &self.path)
    }
}

macro_rules! forward_to_any {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.deserialize_any(visitor)
        })*
    };
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.node {
            Node::Null(_) => visitor.visit_unit(),
            Node::Scalar { value, quoted, .. } => {
                if *quoted {
                    visitor.visit_str(value)
                } else if let Some(b) = parse_bool(value) {
                    visitor.visit_bool(b)
                } else if let Ok(i) = value.parse::<i64>() {
                    visitor.visit_i64(i)
                } else if let Some(f) = parse_float(value) {
                    if !f.is_finite() {
                        return self.wrap(Err(DeError::at(
                            self.node.pos(),
                            format!(
                                "{value} is not a finite number; every number in a spec must be finite (no .nan, .inf or values beyond ±1.8e308)"
                            ),
                        )));
                    }
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_str(value)
                }
            }
            Node::Seq(items, _) => visitor.visit_seq(Seq {
                items: items.iter().enumerate(),
                parent: &self,
            }),
            Node::Map(entries, _) => visitor.visit_map(Map {
                entries: entries.iter(),
                value: None,
                parent: &self,
            }),
        };
        self.wrap(result)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::Scalar { value, .. } => {
                let r = visitor.visit_str(value);
                self.wrap(r)
            }
            _ => Err(self.expected("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::Null(_) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::Seq(..) => self.deserialize_any(visitor),
            _ => Err(self.expected("a list")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::Map(..) => self.deserialize_any(visitor),
            _ => Err(self.expected("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let Node::Map(entries, _) = self.node else {
            return Err(self.expected("a mapping"));
        };
        for (key, _) in entries {
            let Some(name) = key.as_key() else {
                let what = match key {
                    Node::Seq(..) => "a list",
                    Node::Map(..) => "a mapping",
                    _ => "nothing (null)",
                };
                let error = DeError::at(key.pos(), format!("a key must be a name, not {what}"))
                    .located(key.pos(), &self.path);
                self.unknown.borrow_mut().push(error);
                continue;
            };
            if !fields.contains(&name) {
                let mut message = format!("unknown key \"{name}\"");
                match did_you_mean(name, fields) {
                    Some(s) => message.push_str(&format!("; did you mean \"{s}\"?")),
                    None => message.push_str(&format!("; expected one of {}", fields.join(", "))),
                }
                let child = self.child(key, name);
                let error = DeError::at(key.pos(), message).located(key.pos(), &child.path);
                self.unknown.borrow_mut().push(error);
            }
        }
        let result = visitor.visit_map(Map {
            entries: entries.iter(),
            value: None,
            parent: &self,
        });
        // A missing field is reported at the mapping that lacks it, by its full path.
        result.map_err(|mut e| {
            if e.path.is_none()
                && let Some(field) = e
                    .message
                    .strip_prefix("missing required key `")
                    .and_then(|s| s.strip_suffix('`'))
            {
                e.path = Some(self.child(self.node, field).path);
                e.message = "missing required key".to_string();
            }
            e.located(self.node.pos(), &self.path)
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.node {
            Node::Scalar { value, .. } => {
                let r = visitor.visit_enum(value.as_str().into_deserializer());
                self.wrap(r)
            }
            _ => Err(self.expected("one of the allowed names")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_any! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let looks_numeric = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E' | '_'));
    if looks_numeric && s.chars().any(|c| c.is_ascii_digit()) {
        s.replace('_', "").parse().ok()
    } else {
        None
    }
}

struct Seq<'a, 'p, I> {
    items: I,
    parent: &'p NodeDe<'a>,
}

impl<'de, 'a, 'p, I: Iterator<Item = (usize, &'a Node)>> SeqAccess<'de> for Seq<'a, 'p, I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => seed
                .deserialize(self.parent.child(node, &format!("[{i}]")))
                .map(Some),
        }
    }
}

struct Map<'a, 'p, I> {
    entries: I,
    value: Option<(&'a Node, String)>,
    parent: &'p NodeDe<'a>,
}

impl<'de, 'a, 'p, I: Iterator<Item = &'a (Node, Node)>> MapAccess<'de> for Map<'a, 'p, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                let name = key.as_key().unwrap_or("?").to_string();
                let key_de = self.parent.child(key, &name);
                let k = seed.deserialize(key_de)?;
                self.value = Some((value, name));
                Ok(Some(k))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (node, name) = self.value.take().expect("value requested before key");
        let child = self.parent.child(node, &name);
        let path = child.path.clone();
        seed.deserialize(child)
            .map_err(|e| e.located(node.pos(), &path))
    }
}

#[cfg(test)]
mod tests {
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
}
