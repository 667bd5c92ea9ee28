//! The serde deserializer over a marked tree: every error located, unknown
//! keys collected (all of them, with a did-you-mean).

use std::cell::RefCell;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::{DeError, Node, did_you_mean};

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
