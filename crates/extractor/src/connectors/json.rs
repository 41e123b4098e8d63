//! JSON bodies as every connector reads them: text borrowed from the body where it can
//! be, and parse errors that name the path of the culprit.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A string from the body, borrowed unless it had to be unescaped. Numbers Meta sends as
/// numeric strings (`"361324"`) and any it sends as JSON numbers both land here as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(TextVisitor(PhantomData))
    }
}

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses a JSON body as `T`; the error names the path of the culprit (`data[3].spend`).
/// Tracking the path costs a third of the parse, so it is done only to explain a failure.
pub fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|_| explain::<T>(body))
}

/// Why `body` is not a `T`, with the path of the culprit.
pub fn explain<'a, T: Deserialize<'a>>(body: &'a [u8]) -> String {
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let path = e.path().to_string();
            // `?` stands for a key the parser never reached (the body broke off).
            match path.trim_end_matches(".?") {
                "." | "" | "?" => e.inner().to_string(),
                path => format!("{path}: {}", e.inner()),
            }
        }
        Ok(_) => match de.end() {
            Err(e) => e.to_string(),
            Ok(()) => "malformed JSON".to_owned(),
        },
    }
}
