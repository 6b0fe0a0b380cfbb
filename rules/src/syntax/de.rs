//! A `serde::Deserializer` over the positioned YAML tree of `yaml.rs`.
//!
//! Fixtures (and events inside them) are plain serde types; deserializing them from
//! [`Node`]s instead of a second YAML library keeps one parser for the whole crate and
//! gives every fixture error a `line:col` position (the innermost node that failed).

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use crate::syntax::yaml::{Node, NodeKind, Pos, Style};

/// A deserialization error, positioned at the innermost node that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeError {
    pub pos: Option<Pos>,
    pub message: String,
}

impl DeError {
    fn at(mut self, pos: Pos) -> DeError {
        if self.pos.is_none() {
            self.pos = Some(pos);
        }
        self
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { pos: None, message: msg.to_string() }
    }
}

/// Deserialize a `T` from a node.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &Node) -> Result<T, DeError> {
    T::deserialize(NodeDe(node))
}

/// Deserializer for one node.
pub struct NodeDe<'a>(pub &'a Node);

impl<'a> NodeDe<'a> {
    fn scalar(&self, expected: &str) -> Result<&'a str, DeError> {
        match &self.0.kind {
            NodeKind::Scalar(s, _) => Ok(s),
            _ => Err(DeError {
                pos: Some(self.0.pos()),
                message: format!("expected {expected}, found {}", self.0.kind_name()),
            }),
        }
    }

    fn parse<T: std::str::FromStr>(&self, expected: &str) -> Result<T, DeError> {
        let s = self.scalar(expected)?;
        s.trim()
            .parse()
            .map_err(|_| DeError { pos: Some(self.0.pos()), message: format!("expected {expected}, found '{s}'") })
    }
}

macro_rules! de_num {
    ($($m:ident $t:ty => $v:ident),* $(,)?) => {$(
        fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
            let n: $t = self.parse(concat!("a number (", stringify!($t), ")"))?;
            let pos = self.0.pos();
            v.$v(n).map_err(|e: DeError| e.at(pos))
        }
    )*};
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let pos = self.0.pos();
        let r = match &self.0.kind {
            NodeKind::Scalar(_, Style::Plain) if self.0.is_null() => v.visit_unit(),
            NodeKind::Scalar(s, Style::Plain) => match s.as_str() {
                "true" | "True" | "TRUE" => v.visit_bool(true),
                "false" | "False" | "FALSE" => v.visit_bool(false),
                _ => {
                    if let Ok(i) = s.parse::<i64>() {
                        v.visit_i64(i)
                    } else if let Ok(u) = s.parse::<u64>() {
                        v.visit_u64(u)
                    } else if s.contains(['.', 'e', 'E'])
                        && s.parse::<f64>().is_ok()
                        && !s.contains(char::is_alphabetic)
                    {
                        v.visit_f64(s.parse().unwrap_or_default())
                    } else {
                        v.visit_str(s)
                    }
                }
            },
            NodeKind::Scalar(s, _) => v.visit_str(s),
            NodeKind::Seq(items) => v.visit_seq(SeqAcc(items.iter())),
            NodeKind::Map(items) => v.visit_map(MapAcc { it: items.iter(), value: None }),
        };
        r.map_err(|e| e.at(pos))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let s = self.scalar("a boolean")?;
        let b = match s {
            "true" | "True" | "TRUE" => true,
            "false" | "False" | "FALSE" => false,
            _ => return Err(DeError { pos: Some(self.0.pos()), message: format!("expected a boolean, found '{s}'") }),
        };
        v.visit_bool(b).map_err(|e: DeError| e.at(self.0.pos()))
    }

    de_num! {
        deserialize_i8 i8 => visit_i8, deserialize_i16 i16 => visit_i16, deserialize_i32 i32 => visit_i32,
        deserialize_i64 i64 => visit_i64, deserialize_u8 u8 => visit_u8, deserialize_u16 u16 => visit_u16,
        deserialize_u32 u32 => visit_u32, deserialize_u64 u64 => visit_u64, deserialize_f32 f32 => visit_f32,
        deserialize_f64 f64 => visit_f64,
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let s = self.scalar("a string")?;
        v.visit_str(s).map_err(|e: DeError| e.at(self.0.pos()))
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            v.visit_none()
        } else {
            let pos = self.0.pos();
            v.visit_some(self).map_err(|e| e.at(pos))
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            v.visit_unit()
        } else {
            Err(DeError { pos: Some(self.0.pos()), message: format!("expected null, found {}", self.0.kind_name()) })
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            NodeKind::Seq(items) => v.visit_seq(SeqAcc(items.iter())).map_err(|e| e.at(self.0.pos())),
            _ => Err(DeError {
                pos: Some(self.0.pos()),
                message: format!("expected a list, found {}", self.0.kind_name()),
            }),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            NodeKind::Map(items) => {
                v.visit_map(MapAcc { it: items.iter(), value: None }).map_err(|e| e.at(self.0.pos()))
            }
            _ => Err(DeError {
                pos: Some(self.0.pos()),
                message: format!("expected a mapping, found {}", self.0.kind_name()),
            }),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _n: &'static str,
        _f: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _n: &'static str, v: V) -> Result<V::Value, DeError> {
        let pos = self.0.pos();
        v.visit_newtype_struct(self).map_err(|e| e.at(pos))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _n: &'static str,
        _v: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let pos = self.0.pos();
        match &self.0.kind {
            NodeKind::Scalar(s, _) => v.visit_enum(s.as_str().into_deserializer()).map_err(|e: DeError| e.at(pos)),
            NodeKind::Map(items) if items.len() == 1 => {
                v.visit_enum(EnumAcc(&items[0].0, &items[0].1)).map_err(|e| e.at(pos))
            }
            _ => Err(DeError {
                pos: Some(pos),
                message: format!("expected a variant name or a one-key mapping, found {}", self.0.kind_name()),
            }),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! { char bytes byte_buf unit_struct tuple tuple_struct }
}

struct SeqAcc<'a>(std::slice::Iter<'a, Node>);

impl<'de, 'a> de::SeqAccess<'de> for SeqAcc<'a> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.0.next() {
            Some(n) => seed.deserialize(NodeDe(n)).map(Some).map_err(|e| e.at(n.pos())),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct MapAcc<'a> {
    it: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
}

impl<'de, 'a> de::MapAccess<'de> for MapAcc<'a> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.it.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(NodeDe(k)).map(Some).map_err(|e| e.at(k.pos()))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let v = self.value.take().ok_or_else(|| <DeError as de::Error>::custom("value without key"))?;
        seed.deserialize(NodeDe(v)).map_err(|e| e.at(v.pos()))
    }
}

struct EnumAcc<'a>(&'a Node, &'a Node);

impl<'de, 'a> de::EnumAccess<'de> for EnumAcc<'a> {
    type Error = DeError;
    type Variant = NodeDe<'a>;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, NodeDe<'a>), DeError> {
        let v = seed.deserialize(NodeDe(self.0)).map_err(|e| e.at(self.0.pos()))?;
        Ok((v, NodeDe(self.1)))
    }
}

impl<'de, 'a> de::VariantAccess<'de> for NodeDe<'a> {
    type Error = DeError;
    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, v)
    }
    fn struct_variant<V: Visitor<'de>>(self, _f: &'static [&'static str], v: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(self, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::event::{Event, EvtType, FdKind};
    use crate::syntax::yaml::parse;

    #[test]
    fn event_from_yaml_with_defaults() {
        let docs = parse(
            "type: connect\nproc: {exepath: /bin/bash, args: [-i]}\nfd: {sip: 10.0.0.1, sport: 4444}\ncontainer: {id: abc, k8s: {ns: default, name: web-1, labels: {app: web}}}\n",
        )
        .unwrap();
        let ev: Event = from_node(&docs[0]).unwrap();
        assert_eq!(ev.evt_type, EvtType::Connect);
        assert_eq!(ev.proc.name, "bash");
        assert_eq!(ev.proc.cmdline(), "bash -i");
        assert_eq!(ev.fd.as_ref().unwrap().name(), "10.0.0.1:4444");
        assert!(matches!(ev.fd.as_ref().unwrap().kind(), FdKind::Inet { sport: 4444, .. }));
        let k8s = ev.container.as_ref().unwrap().k8s.as_ref().unwrap();
        assert_eq!(k8s.labels.get("app").map(String::as_str), Some("web"));
    }

    #[test]
    fn errors_carry_positions() {
        let docs = parse("type: execve\nproc:\n  nme: bash\n").unwrap();
        let err = from_node::<Event>(&docs[0]).unwrap_err();
        assert_eq!(err.pos, Some(Pos { line: 3, col: 3 }));
        assert!(err.message.contains("unknown field `nme`"), "{}", err.message);

        let docs = parse("type: execve\nproc: {pid: lots}\n").unwrap();
        let err = from_node::<Event>(&docs[0]).unwrap_err();
        assert_eq!(err.pos, Some(Pos { line: 2, col: 13 }));

        let docs = parse("type: sendto\n").unwrap();
        let err = from_node::<Event>(&docs[0]).unwrap_err();
        assert!(err.message.contains("unknown event type 'sendto'"), "{}", err.message);

        let docs = parse("type: symlink\nargs: {target: /etc/shadow, linkpth: /tmp/x}\n").unwrap();
        let err = from_node::<Event>(&docs[0]).unwrap_err();
        assert!(err.message.contains("unknown argument 'linkpth'"), "{}", err.message);
    }

    #[test]
    fn flags_by_name_or_number() {
        let docs = parse("- {type: openat, fd: {path: /etc/x, flags: O_WRONLY|O_CREAT}}\n- {type: openat, fd: {path: /etc/x, flags: 2}}\n").unwrap();
        let evs: Vec<Event> = from_node(&docs[0]).unwrap();
        assert_eq!(evs[0].fd.as_ref().unwrap().flags(), Some(0o101));
        assert_eq!(evs[1].fd.as_ref().unwrap().flags(), Some(2));
    }
}
