//! A YAML tree that remembers where every node came from, and a serde
//! deserializer over it. Errors carry the key path and the line and column of
//! the offending node, and unknown keys are refused with a did-you-mean, which
//! a plain `serde_yaml::from_str` cannot do.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

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

impl serde::de::Error for DeError {
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

mod deserializer;

pub use deserializer::{from_node, from_node_all};

#[cfg(test)]
mod tests;
