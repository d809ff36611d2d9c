//! API version negotiation: the version used for a request is
//! `min(our max, broker max, user max)`; below the user's min is an error.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// Per-request version bounds (kgo's `kversion.Versions`), keyed by API key.
///
/// Used for [`ConfigBuilder::max_versions`](crate::ConfigBuilder::max_versions) and
/// [`ConfigBuilder::min_versions`](crate::ConfigBuilder::min_versions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    pub(crate) by_key: HashMap<i16, i16>,
}

impl Versions {
    /// No bounds.
    pub fn new() -> Versions {
        Versions::default()
    }

    /// Sets the bound for one API key.
    #[must_use]
    pub fn with(mut self, key: i16, version: i16) -> Versions {
        self.by_key.insert(key, version);
        self
    }

    /// The bound for `key`, if set.
    pub fn get(&self, key: i16) -> Option<i16> {
        self.by_key.get(&key).copied()
    }
}

/// What one broker supports: `(key, min, max)` from its ApiVersions response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BrokerVersions {
    ranges: Vec<(i16, i16, i16)>,
}

impl BrokerVersions {
    pub(crate) fn new(mut ranges: Vec<(i16, i16, i16)>) -> BrokerVersions {
        ranges.sort_unstable();
        BrokerVersions { ranges }
    }

    /// The broker's supported range for `key`.
    pub(crate) fn range(&self, key: i16) -> Option<(i16, i16)> {
        self.ranges
            .binary_search_by_key(&key, |r| r.0)
            .ok()
            .map(|i| (self.ranges[i].1, self.ranges[i].2))
    }

    /// Every `(key, min, max)` the broker listed.
    pub(crate) fn ranges(&self) -> &[(i16, i16, i16)] {
        &self.ranges
    }
}

/// The version a caller pinned for `key`, when the broker supports it; the
/// client's `max_versions` and `min_versions` do not apply to a pin.
///
/// # Errors
///
/// [`Error::Config`] naming the broker's range when it lacks the version.
pub(crate) fn pick_pinned(key: i16, pin: i16, broker: Option<&BrokerVersions>) -> Result<i16> {
    match broker.map(|b| b.range(key)) {
        None => Ok(pin),
        Some(Some((min, max))) if (min..=max).contains(&pin) => Ok(pin),
        Some(range) => Err(Error::Config(
            format!(
                "request key {key} pinned at version {pin}, which the broker does not support ({})",
                match range {
                    Some((min, max)) => format!("it supports {min}-{max}"),
                    None => "it lacks the request".into(),
                }
            )
            .into(),
        )),
    }
}

/// Picks the version for `key`.
///
/// # Errors
///
/// [`Error::BrokerTooOld`] when the broker does not support the key, or only
/// below the user's minimum or our own minimum.
pub(crate) fn pick(
    key: i16,
    our: (i16, i16),
    broker: Option<&BrokerVersions>,
    user_max: Option<&Versions>,
    user_min: Option<&Versions>,
) -> Result<i16> {
    let mut v = our.1;
    if let Some(max) = user_max.and_then(|m| m.get(key)) {
        v = v.min(max);
    }
    let mut floor = our.0;
    if let Some(min) = user_min.and_then(|m| m.get(key)) {
        floor = floor.max(min);
    }
    if let Some(b) = broker {
        match b.range(key) {
            Some((bmin, bmax)) => {
                v = v.min(bmax);
                floor = floor.max(bmin);
            }
            None => {
                return Err(Error::BrokerTooOld {
                    key,
                    version: floor,
                })
            }
        }
    }
    if v < floor {
        return Err(Error::BrokerTooOld {
            key,
            version: floor,
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_minimum_of_the_maxima() {
        let b = BrokerVersions::new(vec![(3, 0, 12), (0, 3, 9), (18, 0, 3)]);
        assert_eq!(b.range(0), Some((3, 9)));
        assert_eq!(pick(3, (0, 13), Some(&b), None, None).unwrap(), 12);
        assert_eq!(pick(3, (0, 10), Some(&b), None, None).unwrap(), 10);
        let max = Versions::new().with(3, 7);
        assert_eq!(pick(3, (0, 13), Some(&b), Some(&max), None).unwrap(), 7);
        assert_eq!(pick(3, (0, 13), None, Some(&max), None).unwrap(), 7);
        // Below the user's minimum: an error that names the key.
        let min = Versions::new().with(3, 13);
        let e = pick(3, (0, 13), Some(&b), None, Some(&min)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BrokerTooOld {
                    key: 3,
                    version: 13
                }
            ),
            "{e:?}"
        );
        // Unknown to the broker.
        assert!(matches!(
            pick(60, (0, 1), Some(&b), None, None),
            Err(Error::BrokerTooOld { key: 60, .. })
        ));
        // Broker's floor above ours.
        assert!(pick(0, (0, 2), Some(&b), None, None).is_err());
    }
}
