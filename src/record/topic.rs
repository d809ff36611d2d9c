//! [`Topic`]: a record's topic name, cheap to clone.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// Names up to this many bytes are stored inline.
const INLINE: usize = 22;

/// A topic name, as a record carries it.
///
/// Every record names its topic, so a `String` here would be one allocation
/// per record produced (the caller's) and per record consumed (the
/// client's), freed on another thread. A `Topic` of up to 22 bytes is
/// stored inline and copied on clone; a longer one is shared (`Arc<str>`).
/// It derefs to `&str`, and compares, orders and hashes as that string, so
/// `record.topic == "orders"` and `map.get(&*record.topic)` work as they
/// would on a `String`.
///
/// ```
/// use kafka_sync::{Record, Topic};
/// let topic = Topic::from("orders");
/// let r = Record::string("hello").with_topic(topic.clone());
/// assert_eq!(r.topic, "orders");
/// assert_eq!(r.topic.len(), 6);
/// ```
#[derive(Clone)]
pub struct Topic(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE] },
    Shared(Arc<str>),
}

impl Topic {
    /// A topic from its name.
    pub fn new(name: &str) -> Topic {
        let b = name.as_bytes();
        if b.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..b.len()].copy_from_slice(b);
            Topic(Repr::Inline {
                len: b.len() as u8,
                buf,
            })
        } else {
            Topic(Repr::Shared(Arc::from(name)))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // The bytes were copied from a `str`, whole: always valid (the
            // crate forbids the unchecked conversion; this check is short).
            Repr::Inline { len, buf } => {
                std::str::from_utf8(buf.get(..*len as usize).unwrap_or_default()).unwrap_or("")
            }
            Repr::Shared(s) => s,
        }
    }

    /// Whether two topics hold the same name, comparing the stored bytes
    /// (no UTF-8 check on the inline form).
    pub(crate) fn same(&self, other: &Topic) -> bool {
        match (&self.0, &other.0) {
            (Repr::Inline { len: a, buf: x }, Repr::Inline { len: b, buf: y }) => a == b && x == y,
            (Repr::Shared(a), Repr::Shared(b)) => Arc::ptr_eq(a, b) || a == b,
            // A name is inline exactly when it is short enough.
            _ => false,
        }
    }

    /// Whether the name is empty (a record to the default produce topic).
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Repr::Inline { len, .. } => *len == 0,
            Repr::Shared(s) => s.is_empty(),
        }
    }
}

impl Default for Topic {
    fn default() -> Topic {
        Topic(Repr::Inline {
            len: 0,
            buf: [0; INLINE],
        })
    }
}

impl Deref for Topic {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Topic {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for Topic {
    fn eq(&self, other: &Topic) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Topic {}

impl PartialOrd for Topic {
    fn partial_cmp(&self, other: &Topic) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Topic {
    fn cmp(&self, other: &Topic) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Topic {
    // As `str` hashes, so that `Borrow<str>` lookups find it.
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl PartialEq<str> for Topic {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Topic {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Topic {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Topic> for str {
    fn eq(&self, other: &Topic) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Topic> for &str {
    fn eq(&self, other: &Topic) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Topic> for String {
    fn eq(&self, other: &Topic) -> bool {
        self.as_str() == other.as_str()
    }
}

impl From<&str> for Topic {
    fn from(s: &str) -> Topic {
        Topic::new(s)
    }
}

impl From<&String> for Topic {
    fn from(s: &String) -> Topic {
        Topic::new(s)
    }
}

impl From<String> for Topic {
    fn from(s: String) -> Topic {
        if s.len() <= INLINE {
            Topic::new(&s)
        } else {
            Topic(Repr::Shared(Arc::from(s)))
        }
    }
}

impl From<&Topic> for Topic {
    fn from(t: &Topic) -> Topic {
        t.clone()
    }
}

impl From<Arc<str>> for Topic {
    fn from(s: Arc<str>) -> Topic {
        if s.len() <= INLINE {
            Topic::new(&s)
        } else {
            Topic(Repr::Shared(s))
        }
    }
}

impl From<&Arc<str>> for Topic {
    fn from(s: &Arc<str>) -> Topic {
        Topic::from(s.clone())
    }
}

impl From<Topic> for String {
    fn from(t: Topic) -> String {
        t.as_str().to_string()
    }
}

impl From<&Topic> for String {
    fn from(t: &Topic) -> String {
        t.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn inline_and_shared_names_behave_as_their_str() {
        let long = "a-topic-name-longer-than-twenty-two-bytes";
        for name in ["", "t", "exactly-22-bytes-topic", long] {
            let t = Topic::from(name);
            assert_eq!(t.as_str(), name);
            assert_eq!(t, name);
            assert_eq!(name, t);
            assert_eq!(t, Topic::from(name.to_string()));
            assert_eq!(t.is_empty(), name.is_empty());
            assert_eq!(format!("{t}"), name);
            assert_eq!(format!("{t:?}"), format!("{name:?}"));
            assert_eq!(String::from(&t), name);
            let mut m: HashMap<Topic, i32> = HashMap::new();
            m.insert(t.clone(), 1);
            assert_eq!(m.get(name), Some(&1), "Borrow<str> lookups find {name:?}");
        }
        assert!(matches!(
            Topic::from("exactly-22-bytes-topic").0,
            Repr::Inline { .. }
        ));
        assert!(matches!(Topic::from(long).0, Repr::Shared(_)));
        let (a, b) = (Topic::from("a"), Topic::from("b"));
        assert!(a < b && b.cmp(&a) == std::cmp::Ordering::Greater);
        // Multi-byte names stay whole.
        assert_eq!(Topic::from("tópico-ü"), "tópico-ü");
        assert_eq!(Topic::default(), "");
    }

    #[test]
    fn same_compares_names_whatever_they_came_from() {
        let long = "a-topic-name-longer-than-twenty-two-bytes";
        assert!(Topic::from("orders").same(&Topic::from("orders".to_string())));
        assert!(!Topic::from("orders").same(&Topic::from("orderz")));
        assert!(!Topic::from("order").same(&Topic::from("orders")));
        assert!(Topic::from(long).same(&Topic::from(Arc::<str>::from(long))));
        assert!(!Topic::from(long).same(&Topic::from("short")));
        assert!(Topic::from(Arc::<str>::from("short")).same(&Topic::from("short")));
    }
}
