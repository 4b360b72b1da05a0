//! Newest-first cursor pages.

use super::*;

impl World {
    /// Newest first, starting after `cursor` (an id whose number is the position).
    pub fn page<'a, T: 'a>(
        iter: impl DoubleEndedIterator<Item = (&'a u64, &'a T)>,
        cursor: Option<&str>,
        limit: usize,
    ) -> (Vec<&'a T>, Option<String>, bool) {
        let before = cursor.and_then(seq_of).unwrap_or(u64::MAX);
        let mut items: Vec<(&u64, &T)> = iter.rev().filter(|(s, _)| **s < before).take(limit + 1).collect();
        let has_more = items.len() > limit;
        items.truncate(limit);
        let next = if has_more { items.last().map(|(s, _)| format!("c_{s}")) } else { None };
        (items.into_iter().map(|(_, t)| t).collect(), next, has_more)
    }
}
