//! The trace ids of a workload's requests, by request index, in one buffer.
//!
//! A million requests each owning a `String` cost ≈ 56 bytes per id (the `String` and its heap
//! block) and a million allocations; here an id is its bytes in one shared `String` plus a
//! 4-byte end offset, ≈ 11 bytes for the `r123456` of a generated trace.

use std::fmt;

/// Request ids by index: append-only, each id's text in one shared buffer.
///
/// # Examples
///
/// ```
/// use headroom_sim::workload::Ids;
///
/// let mut ids = Ids::default();
/// assert_eq!(ids.push("r1"), Some(0));
/// assert_eq!(ids.push("r2"), Some(1));
/// assert_eq!(ids.get(1), Some("r2"));
/// assert_eq!(ids.get(2), None);
/// assert_eq!(ids.iter().collect::<Vec<_>>(), ["r1", "r2"]);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Ids {
    /// Every id's text, one after the other.
    text: String,
    /// Where each id's text ends in `text` (it starts where the previous one ends).
    ends: Vec<u32>,
}

impl Ids {
    /// Room for `ids` ids of `bytes` bytes in all, reserved up front.
    ///
    /// # Examples
    ///
    /// ```
    /// let ids = headroom_sim::workload::Ids::with_capacity(10, 70);
    /// assert!(ids.is_empty());
    /// ```
    pub fn with_capacity(ids: usize, bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(ids),
        }
    }

    /// Appends `id`; its index, or `None` when the ids would pass 4 GiB of text (nothing is
    /// appended then).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ids = headroom_sim::workload::Ids::default();
    /// assert_eq!(ids.push("a"), Some(0));
    /// ```
    pub fn push(&mut self, id: &str) -> Option<u32> {
        let index = u32::try_from(self.ends.len()).ok()?;
        let end = u32::try_from(self.text.len().checked_add(id.len())?).ok()?;
        self.text.push_str(id);
        self.ends.push(end);
        Some(index)
    }

    /// Appends the id that `write` writes (as [`Ids::push`], without a `String` of its own).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::fmt::Write;
    ///
    /// let mut ids = headroom_sim::workload::Ids::default();
    /// ids.push_with(|text| write!(text, "r{}", 7));
    /// assert_eq!(ids.get(0), Some("r7"));
    /// ```
    pub fn push_with(&mut self, write: impl FnOnce(&mut String) -> fmt::Result) -> Option<u32> {
        let start = self.text.len();
        let written = write(&mut self.text);
        let end = u32::try_from(self.text.len()).ok();
        let index = u32::try_from(self.ends.len()).ok();
        match (written, end, index) {
            (Ok(()), Some(end), Some(index)) => {
                self.ends.push(end);
                Some(index)
            }
            _ => {
                self.text.truncate(start);
                None
            }
        }
    }

    /// The id of request `index`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ids = headroom_sim::workload::Ids::default();
    /// ids.push("r1");
    /// assert_eq!(ids.get(0), Some("r1"));
    /// ```
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = usize::try_from(*self.ends.get(index)?).ok()?;
        let start = match index.checked_sub(1) {
            Some(previous) => usize::try_from(*self.ends.get(previous)?).ok()?,
            None => 0,
        };
        self.text.get(start..end)
    }

    /// Room for `more` ids beyond these, each as long as these are on average (as much of it
    /// as can be allocated: the rest grows as it would).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ids = headroom_sim::workload::Ids::default();
    /// ids.push("r1");
    /// ids.reserve(100);
    /// assert_eq!(ids.len(), 1);
    /// ```
    pub fn reserve(&mut self, more: usize) {
        let per_id = self.text.len().div_ceil(self.ends.len().max(1));
        if self.ends.try_reserve(more).is_ok() {
            let _ = self.text.try_reserve(more.saturating_mul(per_id));
        }
    }

    /// How many ids.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ids = headroom_sim::workload::Ids::default();
    /// ids.push("r1");
    /// assert_eq!(ids.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(headroom_sim::workload::Ids::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The ids in index order.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ids = headroom_sim::workload::Ids::default();
    /// ids.push("a");
    /// ids.push("b");
    /// assert_eq!(ids.iter().last(), Some("b"));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|index| self.get(index))
    }
}

impl fmt::Debug for Ids {
    /// As a list of ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> FromIterator<&'a str> for Ids {
    /// Ids in the iterator's order (stopping silently at 4 GiB of text).
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut ids = Self::default();
        for id in iter {
            if ids.push(id).is_none() {
                break;
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::Ids;

    #[test]
    fn empty_ids_and_neighbours_stay_apart() {
        let ids: Ids = ["", "a", "", "bc"].into_iter().collect();
        assert_eq!(ids.len(), 4);
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["", "a", "", "bc"]);
        assert_eq!(format!("{ids:?}"), r#"["", "a", "", "bc"]"#);
    }
}
