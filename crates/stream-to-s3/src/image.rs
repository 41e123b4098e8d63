//! A stream record's `NewImage`, read from the event's DynamoDB JSON straight into an
//! [`AdMetricRow`]: no intermediate attribute map, and the text of each attribute borrowed
//! from the event until the row takes its own copy.
//!
//! Whatever the image holds, reading it consumes exactly its JSON, so a poison record
//! never stops the rest of the event from being read; only invalid JSON fails the event.

use std::borrow::Cow;
use std::fmt;

use adpipe_domain::AdMetricRow;
use serde::de::value::CowStrDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use serde::{Deserialize, forward_to_deserialize_any};

/// The attribute every staged row has and no other item of the staging table does.
pub const ROW_MARKER: &str = "row_key";

/// What an image is to the data lake.
#[derive(Debug)]
pub enum Image {
    /// A staged row.
    Row(Box<AdMetricRow>),
    /// An item that is not a staged row (no `row_key`).
    NotARow,
    /// Has a `row_key` and is no valid row; the reason names a field, never a value.
    Malformed(String),
}

impl<'de> Deserialize<'de> for Image {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ImageVisitor)
    }
}

struct ImageVisitor;

impl<'de> Visitor<'de> for ImageVisitor {
    type Value = Image;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a DynamoDB item")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut json: A) -> Result<Image, A::Error> {
        let mut attributes = Attributes {
            json: &mut json,
            key: None,
            json_error: None,
            has_marker: false,
        };
        let row = AdMetricRow::deserialize(&mut attributes);
        if let Some(e) = attributes.json_error {
            return Err(e);
        }
        let mut has_marker = attributes.has_marker;
        // A row stops reading at its first bad attribute: skip the rest, still looking for
        // the marker.
        while let Some(key) = json.next_key_seed(Text)? {
            has_marker |= key == ROW_MARKER;
            json.next_value::<IgnoredAny>()?;
        }
        Ok(match row {
            _ if !has_marker => Image::NotARow,
            Ok(row) => Image::Row(Box::new(row)),
            Err(e) => Image::Malformed(e.reason()),
        })
    }
}

/// The image's attributes as a map of plain values, for the row's derived `Deserialize`.
/// Errors of the JSON itself are kept aside and returned by [`ImageVisitor`].
struct Attributes<'a, 'de, A: MapAccess<'de>> {
    json: &'a mut A,
    /// The attribute being read.
    key: Option<Cow<'de, str>>,
    json_error: Option<A::Error>,
    has_marker: bool,
}

impl<'de, A: MapAccess<'de>> Attributes<'_, 'de, A> {
    fn stash<T>(&mut self, result: Result<T, A::Error>) -> Result<T, Unreadable> {
        result.map_err(|e| {
            self.json_error = Some(e);
            Unreadable::Json
        })
    }
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for &mut Attributes<'_, 'de, A> {
    type Error = Unreadable;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_map(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for &mut Attributes<'_, 'de, A> {
    type Error = Unreadable;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Unreadable> {
        let next = self.json.next_key_seed(Text);
        let Some(key) = self.stash(next)? else {
            return Ok(None);
        };
        self.has_marker |= key == ROW_MARKER;
        let name = seed.deserialize(CowStrDeserializer::new(key.clone()))?;
        self.key = Some(key);
        Ok(Some(name))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Unreadable> {
        let next = self.json.next_value_seed(AttributeSeed);
        let attribute = self.stash(next)?;
        seed.deserialize(attribute).map_err(|e| match e {
            Unreadable::Value(None) => Unreadable::Value(self.key.as_ref().map(|k| k.to_string())),
            e => e,
        })
    }
}

/// Why an image is no row. Never holds a value: a `custom` message (which may quote one)
/// is dropped.
#[derive(Debug)]
enum Unreadable {
    /// The event's JSON itself failed; the error is in [`Attributes::json_error`].
    Json,
    Missing(&'static str),
    /// The named attribute has a value of the wrong type or text.
    Value(Option<String>),
}

impl Unreadable {
    fn reason(&self) -> String {
        match self {
            Unreadable::Missing(field) => format!("field `{field}` is missing"),
            Unreadable::Value(Some(field)) => format!("field `{field}` is malformed"),
            Unreadable::Value(None) | Unreadable::Json => "the image is malformed".into(),
        }
    }
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.reason())
    }
}

impl std::error::Error for Unreadable {}

impl de::Error for Unreadable {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unreadable::Value(None)
    }

    fn missing_field(field: &'static str) -> Self {
        Unreadable::Missing(field)
    }
}

/// One attribute value of DynamoDB JSON (`{"S": "…"}`, `{"N": "12"}`, `{"NULL": true}`, …),
/// its text borrowed from the event when it has no escapes.
#[derive(Debug)]
enum Attribute<'de> {
    S(Cow<'de, str>),
    N(Cow<'de, str>),
    Bool(bool),
    Null,
    /// Sets, lists, maps, binary, or not DynamoDB JSON at all: never a row's value.
    Other,
}

struct AttributeSeed;

impl<'de> DeserializeSeed<'de> for AttributeSeed {
    type Value = Attribute<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(AttributeVisitor)
    }
}

struct AttributeVisitor;

impl<'de> Visitor<'de> for AttributeVisitor {
    type Value = Attribute<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a DynamoDB attribute value")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let attribute = match map.next_key_seed(Text)?.as_deref() {
            Some("S") => Attribute::S(map.next_value_seed(Text)?),
            Some("N") => Attribute::N(map.next_value_seed(Text)?),
            Some("BOOL") => Attribute::Bool(map.next_value()?),
            Some("NULL") => {
                map.next_value::<IgnoredAny>()?;
                Attribute::Null
            }
            Some(_) => {
                map.next_value::<IgnoredAny>()?;
                Attribute::Other
            }
            None => Attribute::Other,
        };
        // One type tag per value; anything more makes it no value at all.
        let mut extra = false;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<IgnoredAny>()?;
            extra = true;
        }
        Ok(if extra { Attribute::Other } else { attribute })
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Attribute::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Attribute::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Attribute::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Attribute::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Attribute::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Attribute::Other)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Attribute::Other)
    }
}

/// A JSON string, borrowed when the event allows it.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

impl Attribute<'_> {
    fn number<T: std::str::FromStr>(&self) -> Result<T, Unreadable> {
        match self {
            Attribute::N(n) => n.parse().map_err(|_| Unreadable::Value(None)),
            _ => Err(Unreadable::Value(None)),
        }
    }
}

/// Numbers arrive as text (`{"N": "12"}`): the row's type says how to read them.
macro_rules! numbers {
    ($($method:ident => $visit:ident $type:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
            visitor.$visit(self.number::<$type>()?)
        }
    )*};
}

impl<'de> Deserializer<'de> for Attribute<'de> {
    type Error = Unreadable;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        match self {
            Attribute::S(text) => CowStrDeserializer::new(text).deserialize_any(visitor),
            Attribute::N(ref n) if !n.contains(['.', 'e', 'E']) => {
                visitor.visit_i64(self.number()?)
            }
            Attribute::N(_) => visitor.visit_f64(self.number()?),
            Attribute::Bool(b) => visitor.visit_bool(b),
            Attribute::Null => visitor.visit_unit(),
            Attribute::Other => Err(Unreadable::Value(None)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        match self {
            Attribute::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        match self {
            Attribute::S(text) => CowStrDeserializer::new(text).deserialize_str(visitor),
            _ => Err(Unreadable::Value(None)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        self.deserialize_str(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        match self {
            Attribute::S(text) => {
                let text: CowStrDeserializer<'_, Unreadable> = text.into_deserializer();
                text.deserialize_enum(name, variants, visitor)
            }
            _ => Err(Unreadable::Value(None)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_unit()
    }

    numbers! {
        deserialize_i8 => visit_i8 i8, deserialize_i16 => visit_i16 i16,
        deserialize_i32 => visit_i32 i32, deserialize_i64 => visit_i64 i64,
        deserialize_u8 => visit_u8 u8, deserialize_u16 => visit_u16 u16,
        deserialize_u32 => visit_u32 u32, deserialize_u64 => visit_u64 u64,
        deserialize_f32 => visit_f32 f32, deserialize_f64 => visit_f64 f64,
    }

    forward_to_deserialize_any! {
        bool i128 u128 char bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::encode::tests::row;

    fn image_of(value: serde_json::Value) -> Image {
        serde_json::from_str(&value.to_string()).expect("valid JSON reads as an image")
    }

    fn staged(row: &AdMetricRow) -> serde_json::Value {
        let mut item =
            serde_json::to_value(serde_dynamo::to_item::<_, serde_dynamo::Item>(row).unwrap())
                .unwrap();
        item["pk"] = json!({"S": "t-1#facebook#act_1"});
        item["content_hash"] = json!({"S": "abc"});
        item["expires_at"] = json!({"N": "1796342400"});
        item["tags"] = json!({"SS": ["a", "b"]});
        item
    }

    #[test]
    fn a_staged_item_reads_as_the_row_it_was_written_from() {
        for i in 0..4 {
            let written = row(i);
            match image_of(staged(&written)) {
                Image::Row(read) => assert_eq!(*read, written),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn an_item_without_row_key_is_not_a_row_whatever_else_it_holds() {
        let mut item = staged(&row(0));
        item.as_object_mut().unwrap().remove("row_key");
        assert!(matches!(image_of(item), Image::NotARow));
        assert!(matches!(
            image_of(json!({"pk": {"S": "x"}, "note": {"M": {}}})),
            Image::NotARow
        ));
    }

    #[test]
    fn a_bad_value_names_its_field_and_never_the_value() {
        let mut item = staged(&row(0));
        item["impressions"] = json!({"S": "a secret-looking value"});
        let Image::Malformed(reason) = image_of(item) else {
            panic!("malformed")
        };
        assert_eq!(reason, "field `impressions` is malformed");
    }

    #[test]
    fn a_missing_field_is_named() {
        let mut item = staged(&row(0));
        item.as_object_mut().unwrap().remove("run_id");
        let Image::Malformed(reason) = image_of(item) else {
            panic!("malformed")
        };
        assert_eq!(reason, "field `run_id` is missing");
    }

    #[test]
    fn an_unreadable_image_leaves_the_rest_of_the_event_readable() {
        let mut bad = staged(&row(0));
        bad["date"] = json!({"N": "20260301"});
        bad["level"] = json!(["not", "dynamodb", {"json": 1}]);
        let images: Vec<Image> =
            serde_json::from_str(&json!([bad, staged(&row(1)), {"row_key": "plain"}]).to_string())
                .unwrap();
        assert!(matches!(images[0], Image::Malformed(_)), "{:?}", images[0]);
        assert!(matches!(images[1], Image::Row(_)));
        assert!(matches!(images[2], Image::Malformed(_)));
    }

    #[test]
    fn numbers_and_nulls_read_as_the_row_types_ask() {
        let mut item = staged(&row(0));
        item["conversions"] = json!({"N": "2"});
        item["conversion_value"] = json!({"N": "123.45"});
        item["video_views"] = json!({"NULL": true});
        item["clicks"] = json!({"N": "1.5"});
        assert!(matches!(image_of(item.clone()), Image::Malformed(r) if r.contains("clicks")));
        item["clicks"] = json!({"N": "15"});
        let Image::Row(read) = image_of(item) else {
            panic!("a row")
        };
        assert_eq!(read.conversions, Some(2.0));
        assert_eq!(read.conversion_value, Some(123.45));
        assert_eq!(read.video_views, None);
        assert_eq!(read.clicks, Some(15));
    }

    #[test]
    fn invalid_json_fails_the_read() {
        assert!(
            serde_json::from_str::<Image>(r#"{"row_key": {"S": "x"}, "date": {"S": }"#).is_err()
        );
    }
}
