//! The value types of the schemas: UTF-8 strings sharing the frame's
//! buffer, UUIDs, and the entity newtypes Kafka's definitions name.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// A UTF-8 string held in [`Bytes`], so that decoding a string is a
/// zero-copy slice of the response.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StrBytes(Bytes);

impl StrBytes {
    /// An empty string.
    pub const fn new() -> StrBytes {
        StrBytes(Bytes::new())
    }

    /// Wraps bytes that are UTF-8.
    ///
    /// # Errors
    ///
    /// The bytes are not UTF-8.
    pub fn from_utf8(b: Bytes) -> Result<StrBytes, std::str::Utf8Error> {
        std::str::from_utf8(&b)?;
        Ok(StrBytes(b))
    }

    /// A string from a static `str`, without copying.
    pub const fn from_static_str(s: &'static str) -> StrBytes {
        StrBytes(Bytes::from_static(s.as_bytes()))
    }

    /// A string from a `String`, without copying.
    pub fn from_string(s: String) -> StrBytes {
        StrBytes(Bytes::from(s.into_bytes()))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Every constructor takes a `str` or checks the bytes, so this
        // cannot fail; the crate forbids the unsafe unchecked form, and the
        // check is one pass over a short string (names, ids), never per
        // record.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for StrBytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for StrBytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for StrBytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for StrBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for StrBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for StrBytes {
    fn from(s: String) -> StrBytes {
        StrBytes::from_string(s)
    }
}

impl From<&'static str> for StrBytes {
    fn from(s: &'static str) -> StrBytes {
        StrBytes::from_static_str(s)
    }
}

impl PartialEq<str> for StrBytes {
    fn eq(&self, o: &str) -> bool {
        self.as_str() == o
    }
}

impl PartialEq<&str> for StrBytes {
    fn eq(&self, o: &&str) -> bool {
        self.as_str() == *o
    }
}

impl PartialEq<String> for StrBytes {
    fn eq(&self, o: &String) -> bool {
        self.as_str() == o
    }
}

/// A 128-bit UUID, as topic ids are.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid([u8; 16]);

impl Uuid {
    /// The all-zero UUID ("no id").
    pub const fn nil() -> Uuid {
        Uuid([0; 16])
    }

    /// From the big-endian bytes.
    pub const fn from_bytes(b: [u8; 16]) -> Uuid {
        Uuid(b)
    }

    /// From a `u128`, most significant byte first.
    pub const fn from_u128(v: u128) -> Uuid {
        Uuid(v.to_be_bytes())
    }

    /// The big-endian bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// As a `u128`.
    pub const fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// Whether this is the nil UUID.
    pub const fn is_nil(&self) -> bool {
        self.as_u128() == 0
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        for (i, x) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{x:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

macro_rules! newtypes {
    ($($(#[$doc:meta])* $name:ident($inner:ty);)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl From<$inner> for $name {
            fn from(v: $inner) -> $name {
                $name(v)
            }
        }

        impl From<$name> for $inner {
            fn from(v: $name) -> $inner {
                v.0
            }
        }

        impl Borrow<$inner> for $name {
            fn borrow(&self) -> &$inner {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }

        impl PartialEq<$inner> for $name {
            fn eq(&self, o: &$inner) -> bool {
                &self.0 == o
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    )*};
}

newtypes! {
    /// A topic name.
    TopicName(StrBytes);
    /// A group id.
    GroupId(StrBytes);
    /// A transactional id.
    TransactionalId(StrBytes);
    /// A broker's node id.
    BrokerId(i32);
    /// A producer id.
    ProducerId(i64);
}

impl Copy for BrokerId {}
impl Copy for ProducerId {}

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
